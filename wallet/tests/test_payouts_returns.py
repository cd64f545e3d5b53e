"""Money that comes back from Stripe Connect (API.md, Wallet: "the provider's failure event
returns the held coins"): a transfer reversed in full, or a payout the host's bank refused
(its transfer is reversed at Stripe first), makes the withdrawal `failed` and `refunded`, its
coins back once as `withdrawal_refund`, whatever the number of deliveries."""

import pytest
from django.test import Client

from adminpanel.models import AuditEntry
from tests.helpers import assert_error, balance, earn
from tests.stripe_standin import stripe_api  # noqa: F401
from tests.threads import all_at_once
from wallet.ledger.models import Transaction, WalletKind
from wallet.ledger.reconcile import ledger_check
from wallet.purchases.models import PaymentEvent
from wallet.tests.payouts_helpers import (
    connect_event_delivery,
    connect_fixture,  # noqa: F401
    deliver,
    onboard,
)
from wallet.tests.withdrawal_helpers import WITHDRAWALS, make_staff, system_total
from wallet.withdrawals.models import Withdrawal
from wallet.withdrawals.services import withdrawal_approve, withdrawal_request
from wallet.withdrawals.tasks import withdrawals_process

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("withdrawal_rules")]


@pytest.fixture
def account_id(connect, hana) -> str:
    earn(hana, 3000)
    return onboard(hana, connect)


@pytest.fixture
def paid(account_id, hana) -> Withdrawal:
    """Hana (3000 coins) was paid 1000 by a Transfer to her connected account."""
    withdrawal = withdrawal_request(user=hana, coins=1000)
    withdrawal_approve(withdrawal_id=withdrawal.pk, staff=make_staff())
    assert withdrawals_process() == 1
    withdrawal.refresh_from_db()
    assert (withdrawal.status, balance(hana)) == ("paid", 2000)
    return withdrawal


def reversed_transfer(connect, withdrawal: Withdrawal, **changes) -> dict:
    """The transfer as `transfer.reversed` carries it (reversed in full unless `changes`)."""
    transfer = connect.transfers[withdrawal.payout_ref]
    return {**transfer, "reversed": True, "amount_reversed": transfer["amount"], **changes}


def assert_refunded_once(withdrawal: Withdrawal, host) -> None:
    withdrawal.refresh_from_db()
    assert withdrawal.status == "refunded"
    assert withdrawal.failed_at is not None and withdrawal.refunded_at is not None
    assert withdrawal.refund_reason.startswith("The payout came back")
    assert balance(host) == 3000
    assert Transaction.objects.filter(kind="withdrawal_refund").count() == 1
    assert system_total(WalletKind.PAYOUTS) == 0
    assert system_total(WalletKind.WITHDRAWAL_HOLD) == 0
    assert ledger_check().ok


def test_a_reversed_transfer_refunds_the_paid_withdrawal(connect, paid, hana, client_for):
    response = deliver("transfer.reversed", reversed_transfer(connect, paid))

    assert response.status_code == 200
    assert response.json() == {"status": "reversed"}
    assert_refunded_once(paid, hana)
    shown = client_for(hana).get(WITHDRAWALS).json()["results"][0]
    assert (shown["status"], shown["amount"], shown["currency"]) == ("refunded", "5.00", "USD")
    audit = AuditEntry.objects.get(action="withdrawal.payout_returned")
    assert (audit.actor, audit.before, audit.after) == (
        None,
        {"status": "paid"},
        {"status": "refunded"},
    )
    event = PaymentEvent.objects.get(event_type="transfer.reversed")
    assert (event.provider, event.provider_ref, event.outcome) == (
        "stripe_connect",
        paid.payout_ref,
        "reversed",
    )

    # Delivered again (Stripe retries until it hears 200): nothing moves twice.
    assert deliver("transfer.reversed", reversed_transfer(connect, paid)).json() == {
        "status": "duplicate"
    }
    assert_refunded_once(paid, hana)


def test_a_failed_payout_reverses_its_transfer_then_refunds(connect, paid, account_id, hana):
    payout_id = connect.payout(account_id, [paid.payout_ref])

    response = deliver(
        "payout.failed",
        {"id": payout_id, "object": "payout", "status": "failed", "failure_code": "account_closed"},
        account=account_id,
    )

    assert response.json() == {"status": "reversed"}
    # Stripe was asked, on her account, which transfers the payout carried, then the
    # platform took the money back so that Stripe does not pay it out to her again.
    (listing,) = connect.forms("/v1/balance_transactions")
    assert listing["payout"] == payout_id
    assert connect.keys(f"/v1/transfers/{paid.payout_ref}/reversals") == [
        f"withdrawal-{paid.pk}-reversal"
    ]
    assert connect.transfers[paid.payout_ref]["reversed"] is True
    assert_refunded_once(paid, hana)
    assert "account_closed" in Withdrawal.objects.get(pk=paid.pk).payout_error


def test_a_transfer_reversed_before_a_crash_is_not_reversed_again(connect, paid, account_id, hana):
    """The reversal went through, the refund did not (a crash); Stripe delivers the event
    again after it forgot the reversal's key."""
    connect.transfers[paid.payout_ref].update(reversed=True, amount_reversed=500)
    payout_id = connect.payout(account_id, [paid.payout_ref])

    response = deliver("payout.failed", {"id": payout_id, "object": "payout"}, account=account_id)

    assert response.json() == {"status": "reversed"}
    assert connect.keys(f"/v1/transfers/{paid.payout_ref}/reversals") == []
    assert_refunded_once(paid, hana)


def test_a_failed_payout_that_carried_no_withdrawal_is_acknowledged(connect, paid, account_id):
    payout_id = connect.payout(account_id, ["tr_of_something_else"])

    response = deliver("payout.failed", {"id": payout_id, "object": "payout"}, account=account_id)

    assert response.json() == {"status": "unknown_reference"}
    assert Withdrawal.objects.get(pk=paid.pk).status == "paid"


def test_when_stripe_cannot_be_asked_the_delivery_fails_and_comes_again(
    connect, paid, account_id, hana, settings
):
    payout_id = connect.payout(account_id, [paid.payout_ref])
    path, body, headers = connect_event_delivery(
        "payout.failed", {"id": payout_id, "object": "payout"}, account=account_id
    )
    key = settings.STRIPE_SECRET_KEY
    settings.STRIPE_SECRET_KEY = "sk_test_rolled"

    response = Client().post(path, body, content_type="application/json", headers=headers)

    assert_error(response, 503, "service_unavailable")
    assert Withdrawal.objects.get(pk=paid.pk).status == "paid"
    assert balance(hana) == 2000

    settings.STRIPE_SECRET_KEY = key
    response = Client().post(path, body, content_type="application/json", headers=headers)
    assert response.json() == {"status": "reversed"}
    assert_refunded_once(paid, hana)


def test_a_partial_reversal_leaves_the_withdrawal_paid(connect, paid, hana):
    response = deliver(
        "transfer.reversed", reversed_transfer(connect, paid, reversed=False, amount_reversed=100)
    )

    assert response.json() == {"status": "ignored"}
    assert Withdrawal.objects.get(pk=paid.pk).status == "paid"
    assert balance(hana) == 2000


def test_a_reversal_that_overtakes_the_sweep_refunds_from_the_hold(connect, account_id, hana):
    """Stripe made the transfer and reversed it before the sweep wrote the payment down."""
    withdrawal = withdrawal_request(user=hana, coins=1000)
    withdrawal_approve(withdrawal_id=withdrawal.pk, staff=make_staff())
    transfer = {
        "id": "tr_test_overtaken",
        "object": "transfer",
        "amount": 500,
        "amount_reversed": 500,
        "currency": "usd",
        "destination": account_id,
        "metadata": {"withdrawal_id": str(withdrawal.pk)},
        "reversed": True,
    }

    assert deliver("transfer.reversed", transfer).json() == {"status": "reversed"}
    assert withdrawals_process() == 0  # nothing left to pay

    assert connect.transfers == {}
    assert_refunded_once(withdrawal, hana)


def test_a_reversed_transfer_of_no_withdrawal_is_acknowledged(connect, paid):
    transfer = {**reversed_transfer(connect, paid), "id": "tr_other", "metadata": {}}

    assert deliver("transfer.reversed", transfer).json() == {"status": "unknown_reference"}
    assert Withdrawal.objects.get(pk=paid.pk).status == "paid"


def test_a_badly_signed_reversal_changes_nothing(connect, paid, hana):
    path, body, headers = connect_event_delivery(
        "transfer.reversed", reversed_transfer(connect, paid), secret="whsec_forged"
    )

    response = Client().post(path, body, content_type="application/json", headers=headers)

    assert_error(response, 400, "validation_error")
    assert Withdrawal.objects.get(pk=paid.pk).status == "paid"
    assert balance(hana) == 2000
    assert PaymentEvent.objects.filter(outcome="bad_signature").count() == 1


@pytest.mark.load
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("event_type", ["transfer.reversed", "payout.failed"])
def test_duplicate_deliveries_at_once_refund_once(connect, paid, account_id, hana, event_type):
    if event_type == "transfer.reversed":
        delivery = connect_event_delivery(event_type, reversed_transfer(connect, paid))
    else:
        payout_id = connect.payout(account_id, [paid.payout_ref])
        delivery = connect_event_delivery(
            event_type, {"id": payout_id, "object": "payout"}, account=account_id
        )
    path, body, headers = delivery

    def post() -> str:
        response = Client().post(path, body, content_type="application/json", headers=headers)
        assert response.status_code == 200, response.content
        return response.json()["status"]

    outcomes = all_at_once(20, post)

    assert sorted(outcomes) == ["duplicate"] * 19 + ["reversed"]
    assert_refunded_once(paid, hana)
    assert PaymentEvent.objects.filter(event_type=event_type).count() == 20
