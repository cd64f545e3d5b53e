"""The App Store provider on Apple's real verification code (app-store-server-library), with
a test root CA standing in for Apple's (appstore_helpers.py): what it accepts, what it
refuses and why, in the SANDBOX and PRODUCTION environments only."""

import base64
import datetime
import json
from decimal import Decimal

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import CoinPackageFactory, UserFactory
from tests.helpers import assert_error, balance
from tests.threads import all_at_once
from wallet.ledger.models import Transaction
from wallet.providers_check import providers_check
from wallet.purchases.appstore import AppStoreProvider
from wallet.purchases.models import PaymentEvent, Purchase
from wallet.purchases.providers import (
    PAYMENT_REVERSED,
    BadSignature,
    MalformedWebhook,
    ReceiptRejected,
    payment_provider,
)
from wallet.tests.appstore_helpers import (
    APP_APPLE_ID,
    PRODUCTION,
    WEBHOOK,
    appstore,  # noqa: F401
    appstore_refund_delivery,
    configure_appstore,
    make_signer,
    notification_body,
    notification_payload,
    now_ms,
    signed_transaction,
    test_apple,
    transaction_payload,
)

pytestmark = pytest.mark.usefixtures("appstore")

NOT_SIGNED = "The transaction is not signed by the App Store."
ANOTHER_APP = "The transaction is for another app."
ANOTHER_ENVIRONMENT = "The transaction is from another App Store environment"


def provider() -> AppStoreProvider:
    found = payment_provider("appstore")
    assert isinstance(found, AppStoreProvider)
    return found


def verify(jws: str):
    return provider().verify({"signed_transaction": jws})


def tampered(jws: str, old: bytes, new: bytes) -> str:
    """`jws` with bytes of its payload replaced, the signature kept."""
    header, payload, signature = jws.split(".")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert old in raw
    changed = base64.urlsafe_b64encode(raw.replace(old, new, 1)).rstrip(b"=").decode()
    return f"{header}.{changed}.{signature}"


# --- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "setting, value",
    [
        ("APPSTORE_BUNDLE_ID", ""),
        ("APPSTORE_APP_APPLE_ID", 0),
        ("APPSTORE_ROOT_CERTIFICATES", []),
    ],
)
def test_a_missing_setting_is_a_configuration_error(settings, setting, value):
    setattr(settings, setting, value)

    with pytest.raises(ImproperlyConfigured, match=setting):
        AppStoreProvider()


@pytest.mark.parametrize("environment", ["LOCAL_TESTING", "XCODE", "LocalTesting", "STAGING"])
def test_only_production_and_sandbox_are_accepted(settings, environment):
    # Xcode and local-testing transactions are not signed: the library would skip the check.
    settings.APPSTORE_ENVIRONMENT = environment

    with pytest.raises(ImproperlyConfigured, match="PRODUCTION or SANDBOX"):
        AppStoreProvider()


def test_an_unreadable_or_foreign_root_file_is_a_configuration_error(settings, tmp_path):
    settings.APPSTORE_ROOT_CERTIFICATES = [str(tmp_path / "missing.cer")]
    with pytest.raises(ImproperlyConfigured, match="cannot read"):
        AppStoreProvider()

    (tmp_path / "notes.txt").write_text("not a certificate")
    settings.APPSTORE_ROOT_CERTIFICATES = [str(tmp_path / "notes.txt")]
    with pytest.raises(ImproperlyConfigured, match="not a DER or PEM certificate"):
        AppStoreProvider()


def test_start_up_checks_the_app_store_settings(settings):
    # What a production process runs at start-up (wallet.apps): the message names the setting.
    providers_check()

    settings.APPSTORE_ROOT_CERTIFICATES = ["/nonexistent/AppleRootCA-G3.cer"]
    with pytest.raises(ImproperlyConfigured, match="APPSTORE_ROOT_CERTIFICATES"):
        providers_check()


def test_a_der_root_as_apple_publishes_it_is_trusted(settings, tmp_path):
    der = tmp_path / "AppleRootCA-G3.cer"
    der.write_bytes(test_apple().signer.root.public_bytes(Encoding.DER))
    settings.APPSTORE_ROOT_CERTIFICATES = [str(der)]

    assert verify(signed_transaction()).provider_ref == "2000000000000001"


# --- purchases ---------------------------------------------------------------------------------


def test_a_signed_consumable_is_a_store_transaction():
    purchase_date = now_ms() - 5000
    transaction = verify(
        signed_transaction(
            "2000000000000042",
            "coins_500",
            purchaseDate=purchase_date,
            originalTransactionId="2000000000000040",
            price=19990,
            currency="eur",
        )
    )

    assert transaction.provider_ref == "2000000000000042"
    assert transaction.product_id == "coins_500"
    assert transaction.price == Decimal("19.99")
    assert transaction.currency == "EUR"
    assert transaction.metadata["environment"] == "Sandbox"
    assert transaction.metadata["purchase_date"] == purchase_date
    assert transaction.metadata["original_transaction_id"] == "2000000000000040"


@pytest.mark.parametrize(
    "price, currency",
    [(None, None), (4990, None), (None, "EUR"), (4990, "euro"), (-1, "EUR")],
)
def test_without_a_price_and_its_currency_the_package_price_applies(price, currency):
    # Apple added price and currency in 2023; older transactions have neither.
    transaction = verify(signed_transaction(price=price, currency=currency))

    assert (transaction.price, transaction.currency) == (None, "")


def test_production_transactions_on_a_production_server(settings, tmp_path):
    configure_appstore(settings, tmp_path, environment=PRODUCTION)

    transaction = verify(signed_transaction(environment=PRODUCTION))

    assert transaction.metadata["environment"] == "Production"
    with pytest.raises(ReceiptRejected, match=ANOTHER_ENVIRONMENT):
        verify(signed_transaction(environment="Sandbox"))


def test_a_transaction_signed_while_the_leaf_was_valid_stays_valid():
    # Online checks are off: the chain is judged at the JWS's signedDate, as Apple intends
    # for data signed in the past (docs/payments.md).
    now = datetime.datetime.now(datetime.UTC)
    expired = test_apple().under_root(
        leaf_not_before=now - datetime.timedelta(days=30),
        leaf_not_after=now - datetime.timedelta(days=1),
    )
    signed_then = now_ms() - 10 * 86_400_000

    assert verify(signed_transaction(signer=expired, signedDate=signed_then)).provider_ref


def _forged_with_another_root() -> str:
    return signed_transaction(signer=make_signer())


def _genuine_chain_other_key() -> str:
    # Apple's x5c copied from a real transaction, the payload signed by the forger's key.
    return test_apple().signer.sign(
        transaction_payload(), key=ec.generate_private_key(ec.SECP256R1())
    )


def _expired_leaf() -> str:
    now = datetime.datetime.now(datetime.UTC)
    signer = test_apple().under_root(
        leaf_not_before=now - datetime.timedelta(days=30),
        leaf_not_after=now - datetime.timedelta(days=1),
    )
    return signed_transaction(signer=signer)


def _leaf_without_apple_marker() -> str:
    return signed_transaction(signer=test_apple().under_root(leaf_marker=False))


def _intermediate_without_apple_marker() -> str:
    return signed_transaction(signer=test_apple().under_root(intermediate_marker=False))


def _chain_without_intermediate() -> str:
    signer = test_apple().signer
    chain = signer.x5c()
    return jwt.encode(
        transaction_payload(), signer.key, algorithm="ES256", headers={"x5c": chain[::2]}
    )


def _unsigned() -> str:
    return jwt.encode(
        transaction_payload(), "", algorithm="none", headers={"x5c": test_apple().signer.x5c()}
    )


def _tampered_product() -> str:
    return tampered(signed_transaction(), b'"coins_100"', b'"coins_900"')


def _tampered_price() -> str:
    return tampered(signed_transaction(), b'"price":4990', b'"price":4991')


# Each refusal, with why the library refused (its exception's causes), so that a case cannot
# pass by failing for another reason than the one it is about.
@pytest.mark.parametrize(
    "make_jws, reason, cause",
    [
        (_forged_with_another_root, NOT_SIGNED, "unable to get local issuer certificate"),
        (_genuine_chain_other_key, NOT_SIGNED, "Signature verification failed"),
        (_expired_leaf, NOT_SIGNED, "certificate has expired"),
        (_leaf_without_apple_marker, NOT_SIGNED, "1.2.840.113635.100.6.11.1"),
        (_intermediate_without_apple_marker, NOT_SIGNED, "1.2.840.113635.100.6.2.1"),
        (_chain_without_intermediate, NOT_SIGNED, "INVALID_CHAIN_LENGTH"),
        (_unsigned, NOT_SIGNED, "Algorithm was not ES256"),
        (_tampered_product, NOT_SIGNED, "Signature verification failed"),
        (_tampered_price, NOT_SIGNED, "Signature verification failed"),
        (lambda: "not-a-jws", NOT_SIGNED, "Not enough segments"),
        (lambda: "a.b.c", NOT_SIGNED, "Invalid header padding"),
        (lambda: signed_transaction(bundleId="com.example.other"), ANOTHER_APP, "APP_IDENTIFIER"),
        (lambda: signed_transaction(environment=PRODUCTION), ANOTHER_ENVIRONMENT, "ENVIRONMENT"),
        (lambda: signed_transaction(environment="LocalTesting"), ANOTHER_ENVIRONMENT, ""),
        (lambda: signed_transaction(environment="Xcode"), ANOTHER_ENVIRONMENT, ""),
        (lambda: signed_transaction(type="Non-Consumable"), "not a consumable", ""),
        (lambda: signed_transaction(type="Auto-Renewable Subscription"), "not a consumable", ""),
        (lambda: signed_transaction(revocationDate=now_ms()), "refunded or revoked", ""),
        (lambda: signed_transaction(quantity=3), "one coin package at a time", ""),
        (lambda: signed_transaction(transactionId=None), "transactionId", ""),
        (lambda: signed_transaction(productId=None), "productId", ""),
        (lambda: signed_transaction(price="lots"), "not shaped as Apple documents", "lots"),
        (lambda: "x" * 20_000, "too long", ""),
    ],
    ids=lambda value: value.__name__.strip("_") if callable(value) else None,
)
def test_a_transaction_that_fails_verification_is_rejected(make_jws, reason, cause):
    with pytest.raises(ReceiptRejected) as refused:
        verify(make_jws())

    assert reason in str(refused.value)
    assert cause in causes(refused.value)


def causes(exc: BaseException) -> str:
    """The messages of what `exc` was raised from, and of what those were raised from."""
    found = []
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        found.append(f"{type(cause).__name__}: {cause!r}")
        found.extend(causes(sub) for sub in getattr(cause, "exceptions", ()))
        cause = cause.__cause__ or cause.__context__
    return "\n".join(found)


@pytest.mark.parametrize("proof", [{}, {"signed_transaction": ""}, {"signed_transaction": 7}])
def test_a_missing_transaction_is_rejected(proof):
    with pytest.raises(ReceiptRejected, match="missing"):
        provider().verify(proof)


# --- notifications -----------------------------------------------------------------------------


def parse(body: bytes):
    return provider().parse_webhook(body, {})


@pytest.mark.parametrize("notification, reason", [("REFUND", "refund"), ("REVOKE", "revocation")])
def test_a_refund_or_revocation_reverses_the_whole_purchase(notification, reason):
    event = parse(notification_body(notification, "2000000000000042"))

    assert event.type == PAYMENT_REVERSED
    assert event.provider_ref == "2000000000000042"
    assert event.reason == reason
    assert event.amount == 0
    assert event.metadata["whole"] is True
    assert event.metadata["revocation_date"]


def test_a_prorated_refund_names_the_part_refunded():
    body = notification_body(
        "REFUND",
        transaction={"revocationType": "REFUND_PRORATED", "revocationPercentage": 40_000},
    )

    event = parse(body)

    assert (event.amount, event.currency) == (Decimal("1.996"), "USD")
    assert "whole" not in event.metadata


def test_production_notifications_name_the_app_by_its_apple_id(settings, tmp_path):
    configure_appstore(settings, tmp_path, environment=PRODUCTION)

    assert parse(notification_body("REFUND", environment=PRODUCTION)).type == PAYMENT_REVERSED
    with pytest.raises(BadSignature, match="another app"):
        parse(notification_body("REFUND", environment=PRODUCTION, appAppleId=APP_APPLE_ID + 1))


@pytest.mark.parametrize(
    "notification, event_type",
    [
        ("CONSUMPTION_REQUEST", "appstore.consumption_request"),
        ("REFUND_DECLINED", "appstore.refund_declined"),
        ("REFUND_REVERSED", "appstore.refund_reversed"),
    ],
)
def test_other_notifications_are_named_for_the_record(notification, event_type):
    event = parse(notification_body(notification, "2000000000000042"))

    assert (event.type, event.provider_ref, event.reason) == (event_type, "2000000000000042", "")


def test_apples_test_notification_names_no_transaction():
    payload = notification_payload("TEST", None)

    event = parse(json.dumps({"signedPayload": test_apple().signer.sign(payload)}).encode())

    assert (event.type, event.provider_ref) == ("appstore.test", "")


def _signed_notification(payload: dict, signer=None) -> bytes:
    return json.dumps({"signedPayload": (signer or test_apple().signer).sign(payload)}).encode()


@pytest.mark.parametrize(
    "make_body, refusal, reason",
    [
        (lambda: notification_body("REFUND", signer=make_signer()), BadSignature, "not signed"),
        (
            # A genuine notification around a forged transaction.
            lambda: _signed_notification(
                notification_payload("REFUND", signed_transaction(signer=make_signer()))
            ),
            BadSignature,
            "transaction is not signed",
        ),
        (
            lambda: notification_body("REFUND", bundleId="com.example.other"),
            BadSignature,
            "notification is for another app",
        ),
        (
            lambda: notification_body("REFUND", environment=PRODUCTION),
            BadSignature,
            "notification is from another App Store environment",
        ),
        (
            lambda: _signed_notification(notification_payload("REFUND", None)),
            MalformedWebhook,
            "names no transaction",
        ),
        (lambda: b"not json", MalformedWebhook, "not JSON"),
        (lambda: b"[1, 2]", MalformedWebhook, "signedPayload"),
        (lambda: b'{"signedPayload": 5}', MalformedWebhook, "signedPayload"),
        (lambda: b'{"signedPayload": "a.b.c"}', BadSignature, "not signed"),
    ],
)
def test_a_notification_that_fails_verification_is_refused(make_body, refusal, reason):
    with pytest.raises(refusal) as refused:
        parse(make_body())

    assert reason in str(refused.value)


# --- through the API ---------------------------------------------------------------------------

PURCHASES = "/api/v1/wallet/purchases/appstore"


@pytest.fixture
def package(db):
    return CoinPackageFactory.create(coins=100, price=Decimal("4.99"), product_id="coins_100")


def post_transaction(user, jws: str):
    client = APIClient()
    client.force_authenticate(user)
    return client.post(PURCHASES, {"signed_transaction": jws}, format="json")


def deliver(body: bytes):
    """POST a notification as Apple does: no token, no CSRF token."""
    return Client(enforce_csrf_checks=True).post(WEBHOOK, body, content_type="application/json")


def transactions_of(user) -> list[tuple[str, int]]:
    client = APIClient()
    client.force_authenticate(user)
    response = client.get("/api/v1/wallet/transactions")
    assert response.status_code == 200, response.content
    return [(row["type"], row["amount"]) for row in response.json()["results"]]


def assert_nothing_changed(*users) -> None:
    assert not Purchase.objects.exists()
    assert not Transaction.objects.exists()
    for user in users:
        assert balance(user) == 0


@pytest.mark.django_db
def test_a_purchase_is_credited_once_and_a_replay_answers_the_same_purchase(alice, package):
    jws = signed_transaction("2000000000000007")

    first = post_transaction(alice, jws)

    assert first.status_code == 201, first.content
    body = first.json()
    assert body["status"] == "credited"
    assert (body["provider"], body["provider_ref"]) == ("appstore", "2000000000000007")
    assert (body["coins"], body["price"], body["currency"]) == (100, "4.99", "USD")
    assert balance(alice) == 100
    assert transactions_of(alice) == [("purchase", 100)]

    again = post_transaction(alice, jws)

    assert again.status_code == 201, again.content
    assert again.json() == body
    assert balance(alice) == 100
    assert transactions_of(alice) == [("purchase", 100)]


@pytest.mark.django_db
def test_apples_price_is_what_the_purchase_records(alice, package):
    # The package lists 4.99 USD; the buyer's storefront charged 5.49 EUR.
    response = post_transaction(alice, signed_transaction(price=5490, currency="EUR"))

    assert response.status_code == 201, response.content
    assert (response.json()["price"], response.json()["currency"]) == ("5.49", "EUR")
    assert balance(alice) == 100


@pytest.mark.django_db
def test_a_transaction_credited_to_one_account_is_refused_to_another(alice, bob, package):
    jws = signed_transaction()
    assert post_transaction(alice, jws).status_code == 201

    response = post_transaction(bob, jws)

    assert_error(response, 400, "invalid_receipt")
    assert (balance(alice), balance(bob)) == (100, 0)
    assert Purchase.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "make_jws",
    [
        _forged_with_another_root,
        _genuine_chain_other_key,
        _expired_leaf,
        _tampered_product,
        lambda: "not-a-jws",
        lambda: signed_transaction(bundleId="com.example.other"),
        lambda: signed_transaction(environment=PRODUCTION),
        lambda: signed_transaction(type="Non-Consumable"),
        lambda: signed_transaction(revocationDate=now_ms()),
        lambda: signed_transaction(product_id="coins_we_do_not_sell"),
    ],
    ids=[
        "forged",
        "other-key",
        "expired-leaf",
        "tampered",
        "not-a-jws",
        "other-bundle",
        "other-environment",
        "non-consumable",
        "revoked",
        "unknown-product",
    ],
)
def test_a_transaction_that_fails_verification_is_invalid_receipt(alice, package, make_jws):
    response = post_transaction(alice, make_jws())

    error = assert_error(response, 400, "invalid_receipt")
    assert "BEGIN" not in json.dumps(error)  # no key or certificate material echoed
    assert_nothing_changed(alice)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "size, status, code",
    [
        # Longer than any App Store JWS (a few kB): refused before Apple's library parses it.
        (20_000, 400, "validation_error"),
        # Over the API's body limit: refused unread.
        (100_000, 413, "payload_too_large"),
    ],
)
def test_a_huge_transaction_is_refused(alice, package, size, status, code):
    huge = signed_transaction() + "A" * size

    assert_error(post_transaction(alice, huge), status, code)
    assert_nothing_changed(alice)


@pytest.mark.django_db
def test_a_misconfigured_app_store_is_unavailable_not_a_bad_receipt(alice, package, settings):
    settings.APPSTORE_ROOT_CERTIFICATES = []

    assert_error(post_transaction(alice, signed_transaction()), 503, "service_unavailable")
    assert_nothing_changed(alice)


@pytest.mark.load
@pytest.mark.django_db(transaction=True)
def test_the_same_transaction_posted_at_once_credits_once():
    alice = UserFactory.create()
    CoinPackageFactory.create(coins=100, product_id="coins_100")
    jws = signed_transaction()

    responses = all_at_once(20, lambda: post_transaction(alice, jws))

    assert {response.status_code for response in responses} == {201}
    assert len({response.json()["id"] for response in responses}) == 1
    assert Purchase.objects.count() == 1
    assert balance(alice) == 100
    assert transactions_of(alice) == [("purchase", 100)]


# --- notifications through the webhook ---------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("notification, reason", [("REFUND", "refund"), ("REVOKE", "revocation")])
def test_a_refund_or_revocation_takes_the_coins_back_once(alice, package, notification, reason):
    assert post_transaction(alice, signed_transaction("2000000000000007")).status_code == 201
    path, body, headers = appstore_refund_delivery("2000000000000007", notification)

    response = Client().post(path, body, headers=headers, content_type=headers["Content-Type"])

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "reversed"}
    assert balance(alice) == 0
    assert transactions_of(alice) == [("purchase_reversal", -100), ("purchase", 100)]
    purchase = Purchase.objects.get()
    assert (purchase.status, purchase.reversal_reason) == ("reversed", reason)
    # Apple retries until it gets a 200: the same delivery again takes nothing more.
    assert deliver(body).json() == {"status": "duplicate"}
    assert balance(alice) == 0
    # The app sending the refunded transaction again gets its purchase, credits nothing.
    replay = post_transaction(alice, signed_transaction("2000000000000007"))
    assert (replay.status_code, replay.json()["status"]) == (201, "reversed")
    assert balance(alice) == 0


@pytest.mark.django_db
def test_a_prorated_refund_takes_back_its_share_of_the_coins(alice, package):
    assert post_transaction(alice, signed_transaction()).status_code == 201
    body = notification_body(
        "REFUND",
        transaction={"revocationType": "REFUND_PRORATED", "revocationPercentage": 40_000},
    )

    assert deliver(body).json() == {"status": "reversed"}
    assert balance(alice) == 60
    assert transactions_of(alice) == [("purchase_reversal", -40), ("purchase", 100)]


@pytest.mark.django_db
def test_a_forged_refund_is_refused_and_changes_nothing(alice, package):
    assert post_transaction(alice, signed_transaction()).status_code == 201

    response = deliver(notification_body("REFUND", signer=make_signer()))

    assert_error(response, 400, "validation_error")
    assert balance(alice) == 100
    assert Purchase.objects.get().status == "credited"
    assert list(PaymentEvent.objects.values_list("outcome", flat=True)) == ["bad_signature"]


@pytest.mark.django_db
def test_other_notifications_are_recorded_and_acknowledged(alice, package):
    assert post_transaction(alice, signed_transaction()).status_code == 201

    response = deliver(notification_body("CONSUMPTION_REQUEST"))

    assert response.json() == {"status": "ignored"}
    event = PaymentEvent.objects.get()
    assert (event.event_type, event.outcome) == ("appstore.consumption_request", "ignored")
    assert balance(alice) == 100
