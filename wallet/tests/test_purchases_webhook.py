"""POST /payments/webhook/{provider} through the real HTTP view, with bodies signed as the
sandbox provider signs them: a purchase is credited exactly once (duplicates, concurrent
deliveries), refused deliveries change nothing, and every delivery is recorded."""

import logging
from decimal import Decimal
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test import Client

from accounts.models import User
from tests.factories import UserFactory
from tests.helpers import assert_error, balance
from tests.threads import all_at_once
from videochat.gateway.testing import open_socket, sync_thread_connections_closed  # noqa: F401
from wallet.ledger.models import Entry, Transaction, Wallet, WalletKind
from wallet.purchases.models import CoinPackage, PaymentEvent, Purchase
from wallet.tests.purchase_helpers import WEBHOOK, buy, event, sign

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("payment_sandbox")]
Outcome = PaymentEvent.Outcome


@pytest.fixture
def purchase(alice: User) -> Purchase:
    return buy(alice)


def deliver(body: bytes, signature: str | None = None, client: Client | None = None) -> Any:
    """POST `body` as the provider does: no token, no CSRF token, signed unless told."""
    client = client or Client(enforce_csrf_checks=True)
    return client.post(
        WEBHOOK,
        body,
        content_type="application/json",
        headers={"X-Signature": sign(body) if signature is None else signature},
    )


def status_of(purchase: Purchase) -> str:
    purchase.refresh_from_db()
    return purchase.status


def outcomes() -> list[str]:
    return list(PaymentEvent.objects.order_by("id").values_list("outcome", flat=True))


def assert_nothing_credited(user: User, purchase: Purchase, status: str = "pending") -> None:
    assert balance(user) == 0
    assert status_of(purchase) == status
    assert purchase.credit is None
    assert not Transaction.objects.exists()


# --- the happy path ------------------------------------------------------------------------


def test_a_signed_success_credits_the_purchase(alice, purchase):
    response = deliver(event(purchase))

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "credited"}
    assert balance(alice) == 100
    purchase.refresh_from_db()
    assert purchase.status == "credited"
    credit = purchase.credit
    assert credit is not None
    assert (credit.kind, credit.reference) == ("purchase", f"purchase:{purchase.pk}")
    assert credit.idempotency_key == f"purchase:{purchase.pk}"
    legs = {
        (entry.wallet.kind, entry.type, entry.amount, entry.balance_after)
        for entry in Entry.objects.filter(transaction=credit).select_related("wallet")
    }
    assert legs == {
        (WalletKind.USER, "purchase", 100, 100),
        (WalletKind.PAYMENT_CLEARING, "payment", -100, -100),
    }
    recorded = PaymentEvent.objects.get()
    assert (recorded.provider, recorded.event_type, recorded.provider_ref) == (
        "sandbox",
        "payment.succeeded",
        purchase.provider_ref,
    )
    assert (recorded.purchase, recorded.outcome) == (purchase, "credited")
    assert recorded.body == event(purchase).decode()


def test_the_amount_is_compared_as_a_decimal(alice, purchase):
    response = deliver(event(purchase, amount="4.990"))

    assert response.json() == {"status": "credited"}
    assert balance(alice) == 100


def test_the_price_sold_counts_not_the_package_s_price_today(alice, purchase):
    CoinPackage.objects.filter(pk=purchase.package_id).update(coins=200, price=Decimal("9.99"))

    assert deliver(event(purchase)).json() == {"status": "credited"}
    assert balance(alice) == 100


@pytest.mark.django_db(transaction=True)
async def test_the_buyer_s_sockets_get_the_new_balance():
    alice = await database_sync_to_async(UserFactory.create)()
    purchase = await database_sync_to_async(buy)(alice)

    async with open_socket(alice) as socket:
        response = await database_sync_to_async(deliver)(event(purchase))

        assert response.json() == {"status": "credited"}
        assert await socket.receive_json_from(timeout=2) == {
            "type": "wallet:balance",
            "data": {"balance": 100},
        }


# --- exactly once --------------------------------------------------------------------------


def test_a_repeated_delivery_is_a_duplicate_and_credits_nothing(alice, purchase):
    deliver(event(purchase))

    again = deliver(event(purchase))

    assert again.status_code == 200
    assert again.json() == {"status": "duplicate"}
    assert balance(alice) == 100
    assert Transaction.objects.filter(reference=f"purchase:{purchase.pk}").count() == 1
    assert outcomes() == ["credited", "duplicate"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_credit_once():
    alice = UserFactory.create()
    purchase = buy(alice)
    body = event(purchase)
    deliveries = 4

    def post() -> str:
        return deliver(body).json()["status"]

    answers = all_at_once(deliveries, post)

    assert sorted(answers) == ["credited"] + ["duplicate"] * (deliveries - 1)
    assert Transaction.objects.filter(reference=f"purchase:{purchase.pk}").count() == 1
    assert Transaction.objects.count() == 1
    assert balance(alice) == 100
    assert sorted(outcomes()) == sorted(answers)


# --- refused deliveries change nothing -----------------------------------------------------


@pytest.mark.parametrize(
    "signature",
    [sign(b"another body"), "", "0" * 64],
    ids=["someone-else-s", "missing", "zeros"],
)
def test_a_bad_signature_is_refused_recorded_and_logged(alice, purchase, signature, caplog):
    with caplog.at_level(logging.WARNING, logger="wallet.purchases.services"):
        response = deliver(event(purchase), signature=signature)

    error = assert_error(response, 400, "validation_error")
    assert set(error["details"]) == {"X-Signature"}
    assert_nothing_credited(alice, purchase)
    recorded = PaymentEvent.objects.get()
    assert (recorded.outcome, recorded.purchase, recorded.provider_ref) == (
        "bad_signature",
        None,
        "",
    )
    assert recorded.body == event(purchase).decode()
    assert "refused" in caplog.text


def test_a_body_signed_with_another_secret_is_refused(alice, purchase):
    body = event(purchase)

    assert_error(deliver(body, signature=sign(body, "guessed")), 400, "validation_error")
    assert_nothing_credited(alice, purchase)
    assert outcomes() == ["bad_signature"]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"type": "payment.succeeded"}',
        b'{"type": "payment.succeeded", "provider_ref": "x", "amount": 4.99}',
        b'{"type": "\x00", "provider_ref": "x"}',
    ],
    ids=["not-json", "no-ref", "no-currency", "nul-byte"],
)
def test_a_signed_malformed_body_is_refused_and_recorded(alice, purchase, body, caplog):
    with caplog.at_level(logging.WARNING, logger="wallet.purchases.services"):
        response = deliver(body)

    error = assert_error(response, 400, "validation_error")
    assert set(error["details"]) == {"body"}
    assert_nothing_credited(alice, purchase)
    recorded = PaymentEvent.objects.get()
    assert recorded.outcome == "malformed"
    # Stored as text PostgreSQL accepts.
    assert recorded.body == body.decode().replace("\x00", "\ufffd")
    assert "Malformed" in caplog.text


@pytest.mark.parametrize(
    "fields",
    [{"amount": "0.99"}, {"amount": "49.90"}, {"currency": "EUR"}],
    ids=["less", "more", "currency"],
)
def test_a_success_for_another_amount_credits_nothing(alice, purchase, fields, caplog):
    with caplog.at_level(logging.WARNING, logger="wallet.purchases.services"):
        response = deliver(event(purchase, **fields))

    assert response.status_code == 200
    assert response.json() == {"status": "amount_mismatch"}
    assert_nothing_credited(alice, purchase)
    recorded = PaymentEvent.objects.get()
    assert (recorded.outcome, recorded.purchase) == ("amount_mismatch", purchase)
    assert f"purchase {purchase.pk}" in caplog.text


def test_an_unknown_reference_is_recorded_and_answered_200(alice, purchase, caplog):
    with caplog.at_level(logging.WARNING, logger="wallet.purchases.services"):
        response = deliver(event(purchase, provider_ref="sandbox_nobody"))

    assert response.status_code == 200
    assert response.json() == {"status": "unknown_reference"}
    assert_nothing_credited(alice, purchase)
    recorded = PaymentEvent.objects.get()
    assert (recorded.outcome, recorded.provider_ref) == ("unknown_reference", "sandbox_nobody")
    assert "sandbox_nobody" in caplog.text


def test_an_event_type_we_do_not_act_on_is_ignored(alice, purchase):
    response = deliver(event(purchase, type="payment.refunded"))

    assert response.json() == {"status": "ignored"}
    assert_nothing_credited(alice, purchase)
    assert outcomes() == ["ignored"]


def test_an_unknown_provider_is_404_and_not_recorded(purchase):
    body = event(purchase)
    response = Client().post(
        "/api/v1/payments/webhook/stripe",
        body,
        content_type="application/json",
        headers={"X-Signature": sign(body)},
    )

    assert_error(response, 404, "not_found")
    assert not PaymentEvent.objects.exists()


def test_a_body_over_64_kib_is_refused_before_anything(alice, purchase):
    body = event(purchase, padding="x" * 64 * 1024)

    assert_error(deliver(body), 413, "payload_too_large")
    assert_nothing_credited(alice, purchase)
    assert not PaymentEvent.objects.exists()


def test_the_recorded_body_is_cut_at_10_kb(alice, purchase):
    body = event(purchase, padding="x" * 20_000)

    assert deliver(body).json() == {"status": "credited"}
    assert PaymentEvent.objects.get().body == body[:10_000].decode()


def test_without_the_sandbox_secret_the_webhook_is_unavailable(settings, alice, purchase):
    settings.PAYMENTS_SANDBOX_SECRET = None

    # 503, so the provider retries once the deployment is fixed.
    assert_error(deliver(event(purchase)), 503, "service_unavailable")
    assert_nothing_credited(alice, purchase)
    assert not PaymentEvent.objects.exists()


# --- payment.failed ------------------------------------------------------------------------


def test_a_failure_marks_the_purchase_failed_once(alice, purchase):
    first = deliver(event(purchase, type="payment.failed"))
    again = deliver(event(purchase, type="payment.failed"))

    assert first.json() == {"status": "marked_failed"}
    assert again.json() == {"status": "duplicate"}
    assert_nothing_credited(alice, purchase, status="failed")
    assert outcomes() == ["marked_failed", "duplicate"]


def test_a_failure_after_the_success_changes_nothing(alice, purchase):
    deliver(event(purchase))

    late = deliver(event(purchase, type="payment.failed"))

    assert late.json() == {"status": "ignored"}
    assert status_of(purchase) == "credited"
    assert balance(alice) == 100
    assert outcomes() == ["credited", "ignored"]


def test_a_success_after_a_failure_credits(alice, purchase):
    # A declined card, then a successful retry under the same reference: the provider has the
    # money, so the buyer gets the coins (docs/payments.md).
    deliver(event(purchase, type="payment.failed"))

    retry = deliver(event(purchase))

    assert retry.json() == {"status": "credited"}
    assert status_of(purchase) == "credited"
    assert balance(alice) == 100
    assert outcomes() == ["marked_failed", "credited"]


# --- the ledger ----------------------------------------------------------------------------


def test_the_whole_flow_leaves_the_ledger_balanced(alice, bob):
    paid, declined, twice = buy(alice), buy(bob, coins=500, price="19.99"), buy(bob, coins=30)
    deliver(event(paid))
    deliver(event(declined, type="payment.failed"))
    deliver(event(twice))
    deliver(event(twice))
    deliver(event(declined, amount="0.01"))

    assert (balance(alice), balance(bob)) == (100, 30)
    with connection.cursor() as cursor:
        cursor.execute("SELECT SUM(amount) FROM wallet_entry")
        assert cursor.fetchone() == (0,)
        # And every balance is the sum of its entries.
        cursor.execute(
            "SELECT count(*) FROM wallet_wallet w WHERE w.balance <>"
            " (SELECT coalesce(sum(e.amount), 0) FROM wallet_entry e WHERE e.wallet_id = w.id)"
        )
        assert cursor.fetchone() == (0,)
    clearing = Wallet.objects.filter(kind=WalletKind.PAYMENT_CLEARING)
    assert sum(clearing.values_list("balance", flat=True)) == -130
