"""Google Play Billing (issue 13 item 3) against a local stand-in for Google that checks every
request as Google does (googleplay_helpers.py): verifying and consuming purchases with the Play
Developer API, and Real-time Developer Notifications pushed by Pub/Sub with an OIDC token."""

import base64
import json
import logging
import socket
import time
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from tests.helpers import assert_error
from videochat.errors import ServiceUnavailable
from wallet.purchases.googleplay import GooglePlayProvider
from wallet.purchases.models import PaymentEvent
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


def test_a_google_outage_is_service_unavailable_after_one_retry(googleplay: GooglePlayStandin):
    token, _order_id = googleplay.buy(PRODUCT)
    googleplay.outage = 500

    with pytest.raises(ServiceUnavailable):
        verify(token)

    assert googleplay.calls("get") == [(PRODUCT, token)] * 2


def test_google_unreachable_is_service_unavailable(googleplay, settings):
    token, _order_id = googleplay.buy(PRODUCT)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings.GOOGLEPLAY_API_BASE = f"http://127.0.0.1:{port}/"

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


def test_consuming_during_an_outage_is_service_unavailable(googleplay: GooglePlayStandin):
    token, _order_id = googleplay.buy(PRODUCT)
    transaction = verify(token)
    googleplay.outage = 503

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
    googleplay, authorization, caplog
):
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
    body = push_body(voided_notification("GPA.1", "tok"))

    with caplog.at_level(logging.WARNING, logger="wallet.purchases.services"):
        response = push(body, authorization)

    error = assert_error(response, 400, "validation_error")
    assert "refused" in caplog.text
    (recorded,) = PaymentEvent.objects.all()
    assert recorded.outcome == Outcome.BAD_SIGNATURE
    assert recorded.provider == "googleplay"
    assert error["message"]
