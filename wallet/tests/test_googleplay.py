"""Google Play Billing (issue 13 item 3) against a local stand-in for Google that checks every
request as Google does (googleplay_helpers.py): verifying and consuming purchases with the Play
Developer API, and Real-time Developer Notifications pushed by Pub/Sub with an OIDC token."""

import base64
import json
import logging
import socket
import time
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import CoinPackageFactory
from tests.fixtures import access_token_for
from tests.helpers import assert_error, balance
from tests.threads import all_at_once
from videochat.errors import ServiceUnavailable
from wallet.purchases.googleplay import GooglePlayProvider
from wallet.purchases.models import CoinPackage, PaymentEvent, Purchase
from wallet.purchases.providers import (
    PAYMENT_REVERSED,
    MalformedWebhook,
    ReceiptRejected,
    StoreTransaction,
)
from wallet.tests.googleplay_helpers import (
    TOKEN_PATH,
    WEBHOOK,
    GooglePlayStandin,
    googleplay_fixture,  # noqa: F401  (the `googleplay` fixture)
    googleplay_void_delivery,
    notification,
    pubsub_token,
    push_body,
    service_account_file,
    voided_notification,
)

pytestmark = pytest.mark.django_db

PRODUCT = "coins_550"
Outcome = PaymentEvent.Outcome


def verify(token: str, product_id: str = PRODUCT) -> StoreTransaction:
    return GooglePlayProvider().verify({"product_id": product_id, "purchase_token": token})


def push(body: bytes, authorization: str | None) -> Any:
    """POST a Pub/Sub push to the webhook: no user token, no CSRF token."""
    headers = {} if authorization is None else {"Authorization": authorization}
    return Client(enforce_csrf_checks=True).post(
        WEBHOOK, body, content_type="application/json", headers=headers
    )


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        return int(closed.getsockname()[1])


def bearer(**claims: Any) -> str:
    return f"Bearer {pubsub_token(**claims)}"


# --- Verifying a purchase --------------------------------------------------------------------


def test_a_completed_purchase_is_verified_with_googles_answer(googleplay: GooglePlayStandin):
    token, order_id = googleplay.buy(PRODUCT)

    transaction = verify(token)

    assert transaction.provider_ref == order_id
    assert transaction.product_id == PRODUCT
    assert transaction.external_id == token
    assert transaction.metadata["regionCode"] == "US"
    assert transaction.metadata["consumptionState"] == 0
    assert transaction.metadata["purchaseTimeMillis"].isdigit()
    assert googleplay.calls("get") == [(PRODUCT, token)]
    # Verifying consumes nothing: that waits for the credit.
    assert googleplay.calls("consume") == []


def test_the_access_token_is_fetched_once_and_reused(googleplay: GooglePlayStandin):
    for _ in range(3):
        token, _order_id = googleplay.buy(PRODUCT)
        verify(token)

    assert googleplay.token_grants == 1
    assert len(googleplay.calls("get")) == 3


@pytest.mark.parametrize(
    ("state", "message"), [(1, "cancelled"), (2, "pending")], ids=["cancelled", "pending"]
)
def test_a_purchase_that_is_not_completed_is_rejected(googleplay, state, message):
    token, _order_id = googleplay.buy(PRODUCT, state=state)

    with pytest.raises(ReceiptRejected, match=message):
        verify(token)


def test_an_unknown_token_is_rejected(googleplay: GooglePlayStandin):
    with pytest.raises(ReceiptRejected, match="knows no purchase"):
        verify("no-such-token")


def test_a_token_of_another_product_is_rejected(googleplay: GooglePlayStandin):
    token, _order_id = googleplay.buy("coins_1200")

    with pytest.raises(ReceiptRejected, match="knows no purchase"):
        verify(token, product_id=PRODUCT)


def test_several_packages_in_one_purchase_are_rejected(googleplay: GooglePlayStandin):
    token, _order_id = googleplay.buy(PRODUCT, quantity=2)

    with pytest.raises(ReceiptRejected, match="several"):
        verify(token)


def test_a_license_testers_purchase_is_refused_in_production(googleplay, settings):
    settings.DEBUG = False
    settings.PAYMENTS_ALLOW_SANDBOX = False
    token, _order_id = googleplay.buy(PRODUCT, purchase_type=0)

    with pytest.raises(ReceiptRejected, match="Test purchases"):
        verify(token)

    # A staging deployment, which takes play money, takes it.
    settings.PAYMENTS_ALLOW_SANDBOX = True
    assert verify(token).metadata["purchaseType"] == 0


def test_a_promo_code_purchase_is_accepted_in_production(googleplay, settings):
    settings.DEBUG = False
    settings.PAYMENTS_ALLOW_SANDBOX = False
    token, order_id = googleplay.buy(PRODUCT, purchase_type=1)

    assert verify(token).provider_ref == order_id


@pytest.mark.slow
def test_a_google_outage_is_service_unavailable_after_one_retry(googleplay: GooglePlayStandin):
    token, _order_id = googleplay.buy(PRODUCT)
    googleplay.failing = 500

    with pytest.raises(ServiceUnavailable):
        verify(token)

    assert googleplay.calls("get") == [(PRODUCT, token)] * 2


def test_permissions_missing_in_play_console_are_unavailable_and_logged(googleplay, caplog):
    token, _order_id = googleplay.buy(PRODUCT)
    googleplay.failing = 401

    with (
        caplog.at_level(logging.ERROR, logger="wallet.purchases.googleplay"),
        pytest.raises(ServiceUnavailable),
    ):
        verify(token)

    assert "check its permissions in Play Console" in caplog.text


@pytest.mark.slow
def test_google_unreachable_is_service_unavailable(googleplay, settings):
    token, _order_id = googleplay.buy(PRODUCT)
    settings.GOOGLEPLAY_API_BASE = f"http://127.0.0.1:{closed_port()}/"

    with pytest.raises(ServiceUnavailable):
        verify(token)


def test_a_key_google_does_not_accept_is_unavailable_and_logged(
    googleplay, settings, tmp_path, caplog
):
    # The operator's key was deleted in the Cloud console: Google refuses its signed grant.
    settings.GOOGLEPLAY_SERVICE_ACCOUNT_FILE = str(
        service_account_file(tmp_path, googleplay.url(TOKEN_PATH), key="deleted-key")
    )
    token, _order_id = googleplay.buy(PRODUCT)

    with (
        caplog.at_level(logging.ERROR, logger="wallet.purchases.googleplay"),
        pytest.raises(ServiceUnavailable) as refused,
    ):
        verify(token)

    assert "PRIVATE KEY" not in str(refused.value)
    assert "refused the service account" in caplog.text
    assert googleplay.token_grants == 0
    assert googleplay.calls("get") == []


@pytest.mark.parametrize(
    "missing",
    [
        "GOOGLEPLAY_PACKAGE_NAME",
        "GOOGLEPLAY_SERVICE_ACCOUNT_FILE",
        "GOOGLEPLAY_PUBSUB_AUDIENCE",
        "GOOGLEPLAY_PUBSUB_SERVICE_ACCOUNT",
    ],
)
def test_a_missing_setting_is_named(googleplay, settings, missing):
    setattr(settings, missing, "")

    with pytest.raises(ImproperlyConfigured, match=missing):
        GooglePlayProvider()


def test_an_unreadable_key_file_is_named_without_its_contents(googleplay, settings, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----')
    settings.GOOGLEPLAY_SERVICE_ACCOUNT_FILE = str(broken)

    with pytest.raises(ImproperlyConfigured, match=r"broken\.json") as refused:
        GooglePlayProvider()

    assert "BEGIN" not in str(refused.value)


# --- Consuming it after the credit ------------------------------------------------------------


def test_after_the_credit_the_purchase_is_consumed_once(googleplay: GooglePlayStandin):
    token, _order_id = googleplay.buy(PRODUCT)
    provider = GooglePlayProvider()

    provider.after_credit(verify(token))

    assert googleplay.purchases[token].consumed
    assert googleplay.purchases[token].acknowledged
    # The app sends the token again: Google says it is consumed, nothing is asked.
    provider.after_credit(verify(token))
    assert googleplay.calls("consume") == [(PRODUCT, token)]


def test_a_purchase_consumed_meanwhile_is_logged_not_raised(googleplay, caplog):
    token, order_id = googleplay.buy(PRODUCT)
    transaction = verify(token)
    googleplay.purchases[token].consumed = True  # a concurrent replay was first

    with caplog.at_level(logging.WARNING, logger="wallet.purchases.googleplay"):
        GooglePlayProvider().after_credit(transaction)

    assert googleplay.calls("consume") == [(PRODUCT, token)]
    assert f"refused to consume order {order_id}" in caplog.text


@pytest.mark.slow
def test_consuming_during_an_outage_is_service_unavailable(googleplay: GooglePlayStandin):
    token, _order_id = googleplay.buy(PRODUCT)
    transaction = verify(token)
    googleplay.failing = 503

    with pytest.raises(ServiceUnavailable):
        GooglePlayProvider().after_credit(transaction)

    assert not googleplay.purchases[token].consumed


# --- Real-time Developer Notifications ---------------------------------------------------------


def test_a_voided_purchase_is_a_whole_reversal(googleplay: GooglePlayStandin):
    _path, body, headers = googleplay_void_delivery("GPA.1234-5678-9012-34567", "the-token")

    event = GooglePlayProvider().parse_webhook(body, headers)

    assert event.type == PAYMENT_REVERSED
    assert event.provider_ref == "GPA.1234-5678-9012-34567"
    assert event.external_id == "the-token"
    assert event.reason == "refund"
    assert event.metadata["whole"] is True


def test_a_voided_subscription_is_not_a_reversal(googleplay: GooglePlayStandin):
    body = push_body(voided_notification("GPA.1", "tok", product_type=1))

    event = GooglePlayProvider().parse_webhook(body, {"Authorization": bearer()})

    assert event.type == "googleplay.voided_subscription"


@pytest.mark.parametrize(
    ("kind", "type_"),
    [
        ("testNotification", "googleplay.test"),
        ("oneTimeProductNotification", "googleplay.one_time_product"),
        ("subscriptionNotification", "googleplay.subscription"),
        ("somethingGoogleAddsLater", "googleplay.unknown"),
    ],
)
def test_other_notifications_have_their_own_type(googleplay, kind, type_):
    body = push_body(notification(kind, {"version": "1.0"}))

    event = GooglePlayProvider().parse_webhook(body, {"Authorization": bearer()})

    assert event.type == type_
    assert event.provider_ref == ""


def test_another_apps_notification_is_not_ours(googleplay: GooglePlayStandin):
    body = push_body(notification("testNotification", {}, package="com.example.other"))

    event = GooglePlayProvider().parse_webhook(body, {"Authorization": bearer()})

    assert event.type == "googleplay.other_package"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"{}",
        json.dumps({"message": {"data": "%%%", "messageId": "1"}, "subscription": "s"}).encode(),
        json.dumps(
            {
                "message": {"data": base64.b64encode(b"[1]").decode(), "messageId": "1"},
                "subscription": "s",
            }
        ).encode(),
        push_body(notification("voidedPurchaseNotification", {"purchaseToken": "t"})),
    ],
    ids=["not-json", "no-message", "not-base64", "not-an-object", "void-without-order"],
)
def test_a_signed_body_that_is_no_notification_is_malformed(googleplay, body):
    with pytest.raises(MalformedWebhook):
        GooglePlayProvider().parse_webhook(body, {"Authorization": bearer()})


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Basic dXNlcjpwYXNz",
        "Bearer ",
        "Bearer not-a-jwt",
        "wrong-audience",
        "wrong-account",
        "unverified-email",
        "expired",
        "issued-later",
        "forged",
        "other-issuer",
    ],
)
def test_a_push_without_googles_token_for_us_is_refused_and_changes_nothing(
    googleplay, package, alice, client_for, authorization, caplog
):
    token, order_id = googleplay.buy(PRODUCT)
    assert send(client_for(alice), token).status_code == 201
    claims: dict[str, dict[str, Any]] = {
        "wrong-audience": {"audience": "https://elsewhere.example/push"},
        "wrong-account": {"email": "someone@videochat-test.iam.gserviceaccount.com"},
        "unverified-email": {"email_verified": False},
        "expired": {"issued": int(time.time()) - 3700},
        "issued-later": {"issued": int(time.time()) + 600},
        "forged": {"key": "forger"},
        "other-issuer": {"issuer": "https://evil.example"},
    }
    if authorization in claims:
        authorization = bearer(**claims[authorization])
    body = push_body(voided_notification(order_id, token))

    with caplog.at_level(logging.WARNING, logger="wallet.purchases.services"):
        response = push(body, authorization)

    assert_error(response, 400, "validation_error")
    assert "refused" in caplog.text
    (recorded,) = PaymentEvent.objects.all()
    assert recorded.outcome == Outcome.BAD_SIGNATURE
    assert recorded.provider == "googleplay"
    assert balance(alice) == 550
    assert Purchase.objects.get().status == Purchase.Status.CREDITED


# --- Through the API, as the app and Google call it -------------------------------------------

PURCHASES = "/api/v1/wallet/purchases/googleplay"


@pytest.fixture
def package() -> CoinPackage:
    return CoinPackageFactory.create(product_id=PRODUCT, coins=550, price=Decimal("4.99"))


def send(client: Any, token: str, product_id: str = PRODUCT) -> Any:
    return client.post(
        PURCHASES, {"product_id": product_id, "purchase_token": token}, format="json"
    )


def test_a_purchase_is_credited_once_and_consumed_at_google(googleplay, package, alice, client_for):
    token, order_id = googleplay.buy(PRODUCT)
    client = client_for(alice)

    first = send(client, token)

    assert first.status_code == 201, first.content
    assert first.json()["status"] == "credited"
    assert first.json()["provider_ref"] == order_id
    assert first.json()["coins"] == 550
    assert balance(alice) == 550
    assert googleplay.purchases[token].consumed
    # The app sends it again (it never saw the answer): the same purchase, nothing more.
    again = send(client, token)
    assert again.status_code == 201, again.content
    assert again.json()["id"] == first.json()["id"]
    assert balance(alice) == 550
    assert Purchase.objects.get().external_id == token
    assert googleplay.calls("consume") == [(PRODUCT, token)]


@pytest.mark.slow
def test_a_purchase_google_failed_to_consume_is_consumed_on_the_replay(
    googleplay, package, alice, client_for
):
    token, _order_id = googleplay.buy(PRODUCT)
    client = client_for(alice)
    googleplay.failing_consume = 503

    assert send(client, token).status_code == 201
    assert balance(alice) == 550
    assert not googleplay.purchases[token].consumed

    googleplay.failing_consume = None
    assert send(client, token).status_code == 201
    assert googleplay.purchases[token].consumed
    assert balance(alice) == 550


def test_another_account_sending_the_same_token_is_refused(
    googleplay, package, alice, bob, client_for
):
    token, _order_id = googleplay.buy(PRODUCT)
    assert send(client_for(alice), token).status_code == 201

    assert_error(send(client_for(bob), token), 400, "invalid_receipt")

    assert balance(bob) == 0
    assert balance(alice) == 550


@pytest.mark.parametrize(
    "case", ["cancelled", "pending", "unknown-token", "other-product", "not-sold-here"]
)
def test_a_purchase_google_does_not_confirm_credits_nothing(
    googleplay, package, alice, client_for, case
):
    token, _order_id = googleplay.buy(
        "coins_unlisted" if case == "not-sold-here" else PRODUCT,
        state={"cancelled": 1, "pending": 2}.get(case, 0),
    )
    sent_token = "no-such-token" if case == "unknown-token" else token
    product = {"other-product": "coins_1200", "not-sold-here": "coins_unlisted"}.get(case, PRODUCT)
    if case == "other-product":
        CoinPackageFactory.create(product_id="coins_1200", coins=1200, price=Decimal("9.99"))

    assert_error(send(client_for(alice), sent_token, product), 400, "invalid_receipt")

    assert balance(alice) == 0
    assert not Purchase.objects.exists()
    # Left unconsumed and unacknowledged: Google refunds it after three days.
    assert googleplay.calls("consume") == []


@pytest.mark.slow
def test_a_google_outage_is_503_and_credits_nothing(googleplay, package, alice, client_for):
    token, _order_id = googleplay.buy(PRODUCT)
    googleplay.failing = 500

    assert_error(send(client_for(alice), token), 503, "service_unavailable")

    assert balance(alice) == 0
    assert not Purchase.objects.exists()


def test_a_voided_purchase_takes_the_coins_back_once(googleplay, package, alice, client_for):
    token, order_id = googleplay.buy(PRODUCT)
    assert send(client_for(alice), token).status_code == 201
    path, body, headers = googleplay_void_delivery(order_id, token)

    first = Client().post(path, body, content_type="application/json", headers=headers)
    again = Client().post(path, body, content_type="application/json", headers=headers)

    assert first.status_code == 200, first.content
    assert first.json() == {"status": "reversed"}
    assert again.json() == {"status": "duplicate"}
    assert balance(alice) == 0
    purchase = Purchase.objects.get()
    assert purchase.status == Purchase.Status.REVERSED
    assert purchase.reversed_coins == 550
    assert purchase.reversal_reason == "refund"
    history = client_for(alice).get("/api/v1/wallet/transactions?type=purchase_reversal").json()
    assert [entry["amount"] for entry in history["results"]] == [-550]


def test_a_test_notification_is_acknowledged_and_ignored(googleplay, package, alice, client_for):
    body = push_body(notification("testNotification", {"version": "1.0"}))

    response = push(body, bearer())

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ignored"}
    (recorded,) = PaymentEvent.objects.all()
    assert recorded.event_type == "googleplay.test"


def test_googles_certificates_are_fetched_once_for_many_pushes(googleplay: GooglePlayStandin):
    for _ in range(3):
        assert push(push_body(notification("testNotification", {})), bearer()).status_code == 200

    assert googleplay.certs_fetches == 1


@pytest.mark.parametrize("down", ["answers-503", "unreachable"])
def test_googles_certificates_unavailable_is_503_and_records_nothing(googleplay, settings, down):
    if down == "unreachable":
        settings.GOOGLEPLAY_OIDC_CERTS_URL = f"http://127.0.0.1:{closed_port()}/oauth2/v1/certs"
    else:
        googleplay.server.expect_request("/certs-down").respond_with_data("down", status=503)
        settings.GOOGLEPLAY_OIDC_CERTS_URL = googleplay.url("/certs-down")

    response = push(push_body(notification("testNotification", {})), bearer())

    assert_error(response, 503, "service_unavailable")
    assert not PaymentEvent.objects.exists()


@pytest.mark.load
@pytest.mark.django_db(transaction=True)
def test_twenty_apps_sending_one_token_at_once_credit_it_once(googleplay, package, alice):
    token, _order_id = googleplay.buy(PRODUCT)
    access = access_token_for(alice)

    def send_once() -> Any:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        return send(client, token)

    responses = all_at_once(20, send_once)

    assert [response.status_code for response in responses] == [201] * 20
    assert len({response.json()["id"] for response in responses}) == 1
    assert balance(alice) == 550
    assert Purchase.objects.count() == 1
    assert googleplay.purchases[token].consumed


def test_a_voided_purchase_we_never_credited_is_acknowledged(googleplay: GooglePlayStandin):
    path, body, headers = googleplay_void_delivery("GPA.0000-0000-0000-00000", "unknown-token")

    response = Client().post(path, body, content_type="application/json", headers=headers)

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "unknown_reference"}


@pytest.mark.load
@pytest.mark.django_db(transaction=True)
def test_twenty_pushes_of_one_void_at_once_take_the_coins_back_once(googleplay, package, alice):
    token, order_id = googleplay.buy(PRODUCT)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(alice)}")
    assert send(client, token).status_code == 201
    path, body, headers = googleplay_void_delivery(order_id, token)

    responses = all_at_once(
        20, lambda: Client().post(path, body, content_type="application/json", headers=headers)
    )

    statuses = sorted(response.json()["status"] for response in responses)
    assert statuses == ["duplicate"] * 19 + ["reversed"]
    assert balance(alice) == 0
    assert Purchase.objects.get().reversed_coins == 550
