"""Stripe Checkout end to end: POST /wallet/purchases with `provider: "stripe"` creates a
Checkout Session at a local stand-in for Stripe's API (which checks the amount, the key and
the idempotency key as Stripe would), and Stripe's webhook events, signed as Stripe signs
them, credit once and take coins back on refunds and disputes."""

import logging
import time
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from tests.factories import CoinPackageFactory, UserFactory
from tests.helpers import assert_error, balance
from tests.stripe_standin import (
    STRIPE_WEBHOOK_TEST_SECRET,
    stripe_api,
    stripe_signature,
)
from tests.threads import all_at_once
from wallet.ledger.models import Transaction
from wallet.providers_check import providers_check
from wallet.purchases.models import PaymentEvent, Purchase
from wallet.tests.stripe_helpers import (
    STRIPE_WEBHOOK,
    CheckoutStandIn,
    charge,
    checkout_session,
    dispute,
    intent_id,
    payment_intent,
    stripe_error,
    stripe_event,
    stripe_event_delivery,
)

pytestmark = pytest.mark.django_db
# The stand-in fixture, imported to be used by name here.
__all__ = ["stripe_api"]

PURCHASES = "/api/v1/wallet/purchases"
SESSIONS = "/v1/checkout/sessions"


@pytest.fixture
def stripe_payments(stripe_api, settings) -> Any:
    """Stripe as the payment provider, its API at the stand-in."""
    settings.PAYMENT_PROVIDERS = ["stripe"]
    settings.STRIPE_CHECKOUT_SUCCESS_URL = "https://app.example.com/coins/thanks"
    settings.STRIPE_CHECKOUT_CANCEL_URL = "https://app.example.com/coins"
    return stripe_api


@pytest.fixture
def checkout(stripe_payments) -> CheckoutStandIn:
    standin = CheckoutStandIn()
    stripe_payments.expect_request(SESSIONS, method="POST").respond_with_handler(standin)
    return standin


def start(user: User, package_id: int, key: str = "", **body: Any) -> Any:
    client = APIClient()
    client.force_authenticate(user)
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(
        PURCHASES,
        {"package_id": package_id, "provider": "stripe", **body},
        format="json",
        headers=headers,
    )


def buy(user: User, price: str = "4.99", currency: str = "USD", coins: int = 100) -> Purchase:
    package = CoinPackageFactory.create(coins=coins, price=Decimal(price), currency=currency)
    response = start(user, package.pk, key=f"buy-{package.pk}")
    assert response.status_code == 201, response.content
    return Purchase.objects.get(pk=response.json()["id"])


def deliver(delivery: tuple[str, bytes, dict[str, str]]) -> Any:
    """POST a delivery as Stripe does: no token, no CSRF token, the exact bytes."""
    path, body, headers = delivery
    return Client(enforce_csrf_checks=True).post(
        path, body, content_type="application/json", headers=headers
    )


def completed(purchase: Purchase, **fields: Any) -> tuple[str, bytes, dict[str, str]]:
    return stripe_event_delivery("checkout.session.completed", checkout_session(purchase, **fields))


def outcomes() -> list[str]:
    return list(PaymentEvent.objects.order_by("id").values_list("outcome", flat=True))


def status_of(purchase: Purchase) -> str:
    purchase.refresh_from_db()
    return purchase.status


# --- starting a purchase: a Checkout Session for the server's price ------------------------


def test_a_purchase_opens_a_checkout_session_for_the_server_s_price(alice, checkout):
    package = CoinPackageFactory.create(coins=550, price=Decimal("4.99"), currency="USD")

    # A price or amount in the body is not the client's to set.
    response = start(alice, package.pk, key="k-1", price="0.01", amount=1)

    assert response.status_code == 201, response.content
    purchase = Purchase.objects.get()
    assert response.json() == {
        "id": purchase.pk,
        "status": "pending",
        "provider": "stripe",
        "checkout": {"url": "https://checkout.stripe.com/c/pay/cs_test_standin_1"},
    }
    assert (purchase.provider, purchase.price, purchase.coins) == ("stripe", Decimal("4.99"), 550)
    [(key, form)] = checkout.requests
    assert key == f"checkout:{purchase.provider_ref}"
    assert form == {
        "mode": "payment",
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": "usd",
        "line_items[0][price_data][unit_amount]": "499",
        "line_items[0][price_data][product_data][name]": "550 coins",
        "client_reference_id": purchase.provider_ref,
        "metadata[provider_ref]": purchase.provider_ref,
        "metadata[purchase_id]": str(purchase.pk),
        "payment_intent_data[metadata][provider_ref]": purchase.provider_ref,
        "payment_intent_data[metadata][purchase_id]": str(purchase.pk),
        "success_url": "https://app.example.com/coins/thanks",
        "cancel_url": "https://app.example.com/coins",
    }
    assert not Transaction.objects.exists()


@pytest.mark.parametrize(
    ("price", "currency", "unit_amount"),
    [("500", "JPY", "500"), ("1.25", "KWD", "1250"), ("10.00", "EUR", "1000")],
)
def test_the_amount_is_in_the_currency_s_minor_units(alice, checkout, price, currency, unit_amount):
    buy(alice, price=price, currency=currency)

    [(_, form)] = checkout.requests
    assert form["line_items[0][price_data][unit_amount]"] == unit_amount
    assert form["line_items[0][price_data][currency]"] == currency.lower()


def test_a_price_the_currency_cannot_charge_is_unavailable_and_logged(alice, checkout, caplog):
    package = CoinPackageFactory.create(coins=100, price=Decimal("500.50"), currency="JPY")

    assert_error(start(alice, package.pk), 503, "service_unavailable")
    assert "not a whole number of minor units" in caplog.text
    assert not checkout.requests


def test_the_same_idempotency_key_answers_the_same_session(alice, checkout):
    package = CoinPackageFactory.create(coins=100, price=Decimal("4.99"))

    first = start(alice, package.pk, key="k-1")
    again = start(alice, package.pk, key="k-1")
    other = start(alice, package.pk, key="k-2")

    assert first.status_code == again.status_code == other.status_code == 201
    assert again.json() == first.json()
    assert other.json()["id"] != first.json()["id"]
    assert other.json()["checkout"]["url"] != first.json()["checkout"]["url"]
    keys = [key for key, _ in checkout.requests]
    assert keys[0] == keys[1] != keys[2]
    assert len(checkout.sessions) == 2
    assert Purchase.objects.count() == 2


def test_a_paid_purchase_replayed_opens_no_new_checkout(alice, checkout):
    package = CoinPackageFactory.create(coins=100, price=Decimal("4.99"))
    purchase = Purchase.objects.get(pk=start(alice, package.pk, key="k-1").json()["id"])
    assert deliver(completed(purchase)).json() == {"status": "credited"}

    again = start(alice, package.pk, key="k-1")

    assert again.status_code == 201
    assert again.json()["status"] == "credited"
    assert again.json()["checkout"] == {"url": None}
    assert len(checkout.requests) == 1


@pytest.mark.slow
def test_stripe_down_is_503_and_the_retry_with_the_same_key_works(alice, checkout):
    package = CoinPackageFactory.create(coins=100, price=Decimal("4.99"))
    # The library retries twice on a 5xx, with the same idempotency key: all three fail.
    checkout.failures = [stripe_error(500, "api_error", "An unknown error occurred.")] * 3

    down = start(alice, package.pk, key="k-1")

    assert_error(down, 503, "service_unavailable")
    assert down.headers["Retry-After"]
    purchase = Purchase.objects.get()
    assert purchase.status == "pending"
    assert [key for key, _ in checkout.requests] == [f"checkout:{purchase.provider_ref}"] * 3

    retry = start(alice, package.pk, key="k-1")

    assert retry.status_code == 201
    assert retry.json()["id"] == purchase.pk
    assert retry.json()["checkout"] == {
        "url": "https://checkout.stripe.com/c/pay/cs_test_standin_1"
    }
    assert Purchase.objects.count() == 1


@pytest.mark.parametrize(
    ("failure", "level"),
    [
        (stripe_error(429, "rate_limit_error", "Too many requests."), logging.WARNING),
        (
            stripe_error(400, "invalid_request_error", "Invalid currency: xyz.", param="currency"),
            logging.ERROR,
        ),
        (stripe_error(400, "idempotency_error", "Keys ... same parameters."), logging.ERROR),
    ],
)
def test_stripe_refusing_is_503_and_logged(alice, checkout, caplog, failure, level):
    package = CoinPackageFactory.create(coins=100, price=Decimal("4.99"))
    checkout.failures = [failure]

    assert_error(start(alice, package.pk, key="k-1"), 503, "service_unavailable")

    assert len(checkout.requests) == 1  # nothing the library should retry
    [record] = [r for r in caplog.records if r.name == "wallet.purchases.stripe"]
    assert record.levelno == level
    assert Purchase.objects.get().status == "pending"


def test_a_wrong_secret_key_is_503_and_logged(settings, alice, checkout, caplog):
    settings.STRIPE_SECRET_KEY = "sk_test_not_ours"
    package = CoinPackageFactory.create(coins=100, price=Decimal("4.99"))

    assert_error(start(alice, package.pk), 503, "service_unavailable")
    assert "Invalid API Key" in caplog.text


@pytest.mark.parametrize("missing", ["STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"])
def test_without_stripe_settings_purchases_and_webhooks_are_unavailable(
    settings, alice, stripe_payments, missing
):
    package = CoinPackageFactory.create(coins=100, price=Decimal("4.99"))
    setattr(settings, missing, None)

    assert_error(start(alice, package.pk), 503, "service_unavailable")
    assert not Purchase.objects.exists()
    # No Stripe call was made (the stand-in fails the test on any request it did not expect).
    delivery = stripe_event_delivery("customer.created", {"id": "cus_1", "object": "customer"})
    assert_error(deliver(delivery), 503, "service_unavailable")
    assert not PaymentEvent.objects.exists()


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("STRIPE_SECRET_KEY", "STRIPE_SECRET_KEY is not set"),
        ("STRIPE_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET is not set"),
        ("STRIPE_CHECKOUT_SUCCESS_URL", "STRIPE_CHECKOUT_SUCCESS_URL"),
    ],
)
def test_a_production_start_without_a_stripe_setting_fails_naming_it(
    settings, stripe_payments, missing, named
):
    providers_check()  # all set: builds without calling Stripe

    setattr(settings, missing, None)

    with pytest.raises(ImproperlyConfigured, match=named):
        providers_check()


# --- the webhook: a paid session credits exactly once --------------------------------------


@pytest.fixture
def purchase(alice, checkout) -> Purchase:
    return buy(alice)


def test_a_paid_checkout_session_credits_the_purchase_once(alice, purchase):
    response = deliver(completed(purchase))

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "credited"}
    assert balance(alice) == 100
    purchase.refresh_from_db()
    assert purchase.status == "credited"
    assert purchase.external_id == intent_id(purchase)
    assert Transaction.objects.get() == purchase.credit
    recorded = PaymentEvent.objects.get()
    assert (recorded.provider, recorded.event_type, recorded.purchase) == (
        "stripe",
        "payment.succeeded",
        purchase,
    )


@pytest.mark.parametrize(
    ("price", "currency", "amount_total"),
    [("500", "JPY", 500), ("1.25", "KWD", 1250), ("0.99", "USD", 99)],
)
def test_amounts_are_read_in_the_currency_s_minor_units(
    alice, checkout, price, currency, amount_total
):
    purchase = buy(alice, price=price, currency=currency)

    response = deliver(completed(purchase, amount_total=amount_total))

    assert response.json() == {"status": "credited"}
    assert balance(alice) == 100


def test_the_same_event_again_and_the_payment_intent_after_it_credit_nothing(alice, purchase):
    path, body, _ = first = completed(purchase)
    deliver(first)
    # Stripe retries a delivery with the same event (same id), signed anew.
    replayed = (
        path,
        body,
        {"Stripe-Signature": stripe_signature(body, STRIPE_WEBHOOK_TEST_SECRET)},
    )

    assert deliver(replayed).json() == {"status": "duplicate"}
    intent = stripe_event_delivery("payment_intent.succeeded", payment_intent(purchase))
    assert deliver(intent).json() == {"status": "duplicate"}

    assert balance(alice) == 100
    assert Transaction.objects.count() == 1
    assert outcomes() == ["credited", "duplicate", "duplicate"]


def test_a_payment_intent_that_arrives_first_credits_and_the_session_is_the_duplicate(
    alice, purchase
):
    intent = stripe_event_delivery("payment_intent.succeeded", payment_intent(purchase))

    assert deliver(intent).json() == {"status": "credited"}
    assert deliver(completed(purchase)).json() == {"status": "duplicate"}
    assert balance(alice) == 100
    assert Purchase.objects.get().external_id == intent_id(purchase)


def test_a_delayed_payment_credits_when_it_succeeds(alice, purchase):
    # A bank debit: the session completes unpaid, and the money arrives later.
    unpaid = completed(purchase, payment_status="unpaid")
    assert deliver(unpaid).json() == {"status": "ignored"}
    assert balance(alice) == 0

    paid = stripe_event_delivery(
        "checkout.session.async_payment_succeeded", checkout_session(purchase)
    )

    assert deliver(paid).json() == {"status": "credited"}
    assert balance(alice) == 100


@pytest.mark.parametrize(
    "delivery",
    [
        lambda p: stripe_event_delivery(
            "checkout.session.async_payment_failed", checkout_session(p, payment_status="unpaid")
        ),
        lambda p: stripe_event_delivery(
            "payment_intent.payment_failed",
            payment_intent(p, status="requires_payment_method", amount_received=0),
        ),
    ],
    ids=["async_payment_failed", "payment_intent.payment_failed"],
)
def test_a_failed_payment_marks_the_purchase_failed(alice, purchase, delivery):
    assert deliver(delivery(purchase)).json() == {"status": "marked_failed"}
    assert status_of(purchase) == "failed"
    assert balance(alice) == 0


def test_a_paid_session_for_another_amount_credits_nothing(alice, purchase, caplog):
    response = deliver(completed(purchase, amount_total=100))

    assert response.json() == {"status": "amount_mismatch"}
    assert balance(alice) == 0
    assert status_of(purchase) == "pending"
    assert "expected 4.99 USD" in caplog.text


def test_a_paid_session_in_another_currency_credits_nothing(alice, purchase):
    assert deliver(completed(purchase, currency="eur")).json() == {"status": "amount_mismatch"}
    assert balance(alice) == 0


def test_other_events_are_recorded_and_ignored(alice, purchase):
    delivery = stripe_event_delivery("customer.created", {"id": "cus_1", "object": "customer"})

    assert deliver(delivery).json() == {"status": "ignored"}
    assert outcomes() == ["ignored"]


@pytest.mark.load
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_deliveries_of_one_event_credit_once(stripe_payments):
    checkout = CheckoutStandIn()
    stripe_payments.expect_request(SESSIONS, method="POST").respond_with_handler(checkout)
    alice = UserFactory.create()
    purchase = buy(alice)
    delivery = completed(purchase)

    answers = all_at_once(20, lambda: deliver(delivery).json()["status"])

    assert sorted(answers) == ["credited"] + ["duplicate"] * 19
    assert Transaction.objects.filter(reference=f"purchase:{purchase.pk}").count() == 1
    assert balance(alice) == 100


# --- refused deliveries change nothing -----------------------------------------------------


def _signed(body: bytes, *, secret: str = STRIPE_WEBHOOK_TEST_SECRET, **kw: Any) -> Any:
    return deliver(
        (STRIPE_WEBHOOK, body, {"Stripe-Signature": stripe_signature(body, secret, **kw)})
    )


def assert_refused(response: Any, alice: User, purchase: Purchase, field: str) -> None:
    error = assert_error(response, 400, "validation_error")
    assert field in error["details"]
    assert balance(alice) == 0
    assert status_of(purchase) == "pending"
    assert not Transaction.objects.exists()


def test_a_delivery_older_than_the_tolerance_is_refused(settings, alice, purchase):
    body = stripe_event("checkout.session.completed", checkout_session(purchase))
    old = int(time.time()) - settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS - 10

    assert_refused(_signed(body, timestamp=old), alice, purchase, "Stripe-Signature")
    assert outcomes() == ["bad_signature"]


def test_a_delivery_within_the_tolerance_is_accepted(settings, alice, purchase):
    body = stripe_event("checkout.session.completed", checkout_session(purchase))
    recent = int(time.time()) - settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS + 30

    assert _signed(body, timestamp=recent).json() == {"status": "credited"}


@pytest.mark.parametrize(
    "headers",
    [
        lambda body: {"Stripe-Signature": stripe_signature(body, "whsec_someone_else")},
        lambda body: {
            "Stripe-Signature": stripe_signature(body + b" ", STRIPE_WEBHOOK_TEST_SECRET)
        },
        lambda body: {"Stripe-Signature": "t=1,v1=" + "0" * 64},
        lambda body: {"Stripe-Signature": "garbage"},
        lambda body: {
            "Stripe-Signature": stripe_signature(body, STRIPE_WEBHOOK_TEST_SECRET).replace(
                "v1=", "v0="
            )
        },
        lambda body: {},
    ],
    ids=["another-secret", "tampered", "zeros", "garbage", "other-scheme", "missing"],
)
def test_a_bad_signature_is_refused_and_changes_nothing(alice, purchase, headers, caplog):
    body = stripe_event("checkout.session.completed", checkout_session(purchase))

    response = deliver((STRIPE_WEBHOOK, body, headers(body)))

    assert_refused(response, alice, purchase, "Stripe-Signature")
    assert outcomes() == ["bad_signature"]
    assert "refused" in caplog.text


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'["a list"]',
        b'{"object": "event", "type": "checkout.session.completed"}',
        b'{"id": "evt_1", "type": "checkout.session.completed", "data": {"object": {}}}',
        None,  # a paid session without its amount
    ],
    ids=["not-json", "not-an-object", "no-data", "not-an-event", "no-amount"],
)
def test_a_signed_delivery_that_is_not_a_stripe_event_is_refused(alice, purchase, body):
    if body is None:
        session = checkout_session(purchase)
        del session["amount_total"]
        body = stripe_event("checkout.session.completed", session)

    assert_refused(_signed(body), alice, purchase, "body")
    assert outcomes() == ["malformed"]


def test_a_body_that_is_not_utf8_is_refused_even_signed(alice, purchase):
    # Stripe signs the UTF-8 text of its JSON: these bytes are not something it sent.
    assert_refused(_signed(b'{"type": "\xe9"}'), alice, purchase, "Stripe-Signature")


# --- refunds and disputes take coins back --------------------------------------------------


@pytest.fixture
def credited(alice, purchase) -> Purchase:
    assert deliver(completed(purchase)).json() == {"status": "credited"}
    return purchase


def refunded(
    purchase: Purchase, cents: int, event_id: str = ""
) -> tuple[str, bytes, dict[str, str]]:
    return stripe_event_delivery(
        "charge.refunded",
        charge(purchase, amount_refunded=cents, refunded=cents == 499),
        event_id=event_id,
    )


def reversals(user: User) -> list[int]:
    """The `purchase_reversal` amounts the user sees in their transactions, oldest first."""
    client = APIClient()
    client.force_authenticate(user)
    page = client.get("/api/v1/wallet/transactions", {"type": "purchase_reversal"}).json()
    return [row["amount"] for row in reversed(page["results"])]


def test_a_full_refund_takes_the_coins_back(alice, credited):
    assert deliver(refunded(credited, 499)).json() == {"status": "reversed"}

    assert balance(alice) == 0
    assert reversals(alice) == [-100]
    assert status_of(credited) == "reversed"


def test_a_partial_refund_then_the_rest_take_back_only_the_difference(alice, credited):
    assert deliver(refunded(credited, 250, event_id="evt_refund_1")).json() == {
        "status": "reversed"
    }
    # 100 coins x 2.50 / 4.99 = 50.1: 50 taken back (never more than was refunded).
    assert balance(alice) == 50
    assert reversals(alice) == [-50]

    # Stripe delivering that event again (amount_refunded is cumulative) takes nothing more.
    assert deliver(refunded(credited, 250, event_id="evt_refund_1")).json() == {
        "status": "duplicate"
    }
    assert balance(alice) == 50

    assert deliver(refunded(credited, 499)).json() == {"status": "reversed"}
    assert balance(alice) == 0
    assert reversals(alice) == [-50, -50]
    assert outcomes() == ["credited", "reversed", "duplicate", "reversed"]


def test_a_refund_of_a_charge_without_our_metadata_is_found_by_its_payment_intent(alice, credited):
    delivery = stripe_event_delivery(
        "charge.refunded", charge(credited, amount_refunded=499, refunded=True, metadata={})
    )

    assert deliver(delivery).json() == {"status": "reversed"}
    assert balance(alice) == 0


def test_a_refund_of_a_payment_we_do_not_know_is_acknowledged(alice, credited):
    delivery = stripe_event_delivery(
        "charge.refunded",
        charge(credited, amount_refunded=499, metadata={}, payment_intent="pi_someone_else"),
    )

    assert deliver(delivery).json() == {"status": "unknown_reference"}
    assert balance(alice) == 100


def test_a_dispute_takes_the_coins_back_once(alice, credited):
    delivery = stripe_event_delivery(
        "charge.dispute.created", dispute(credited), event_id="evt_dispute_1"
    )

    assert deliver(delivery).json() == {"status": "reversed"}
    assert balance(alice) == 0
    assert reversals(alice) == [-100]
    assert status_of(credited) == "reversed"

    again = stripe_event_delivery(
        "charge.dispute.created", dispute(credited), event_id="evt_dispute_1"
    )
    assert deliver(again).json() == {"status": "duplicate"}
    assert reversals(alice) == [-100]
