"""A payout that keeps failing (API.md, Wallet: `approved -> failed -> refunded`): after its
last attempt the withdrawal is `failed`; staff refund it in the admin with a reason (the held
coins come back once, as `withdrawal_refund`), or send it back to the payout sweep."""

import importlib
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.apps import apps
from django.core.management import call_command
from django.test import Client

from accounts.models import User
from tests.factories import HostFactory
from tests.helpers import balance, earn
from videochat.errors import Conflict, ValidationFailed
from videochat.gateway.testing import open_socket, sync_thread_connections_closed  # noqa: F401
from wallet.ledger.models import Entry, Transaction, WalletKind
from wallet.tests.withdrawal_helpers import (
    ADMIN,
    WITHDRAWALS,
    act,
    make_staff,
    pin_withdrawal_rules,
    system_total,
)
from wallet.withdrawals.models import Withdrawal
from wallet.withdrawals.providers import sandbox_payouts_failing
from wallet.withdrawals.services import (
    PAYOUT_MAX_ATTEMPTS,
    withdrawal_approve,
    withdrawal_pay,
    withdrawal_refund,
    withdrawal_reject,
    withdrawal_request,
)
from wallet.withdrawals.tasks import withdrawals_process

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("sandbox_requests", "withdrawal_rules"),
]


def fail_every_attempt() -> None:
    with sandbox_payouts_failing("account closed"):
        for _ in range(PAYOUT_MAX_ATTEMPTS):
            withdrawals_process()


@pytest.fixture
def failed(approved: Withdrawal) -> Withdrawal:
    fail_every_attempt()
    approved.refresh_from_db()
    return approved


def refund_in_admin(client: Client, *withdrawals: Withdrawal, reason: str) -> str:
    """The confirmation page's submit button (`post=yes`) with a reason."""
    return act(client, "refund_selected", *withdrawals, post="yes", reason=reason)


# --- Failing -------------------------------------------------------------------------------


def test_the_last_failed_attempt_makes_the_withdrawal_failed(approved, sandbox_requests):
    with sandbox_payouts_failing("account closed"):
        for _ in range(PAYOUT_MAX_ATTEMPTS - 1):
            withdrawals_process()
        approved.refresh_from_db()
        assert (approved.status, approved.failed_at) == ("approved", None)

        withdrawals_process()
        approved.refresh_from_db()
        assert approved.status == "failed"
        assert approved.failed_at is not None
        assert approved.payout_error == "account closed"

        # Nothing tries again on its own, and the coins stay held for staff to decide.
        withdrawals_process()
    assert withdrawals_process() == 0
    assert withdrawal_pay(withdrawal_id=approved.pk) is None
    assert len(sandbox_requests) == PAYOUT_MAX_ATTEMPTS
    assert system_total(WalletKind.WITHDRAWAL_HOLD) == 1000
    assert balance(approved.user) == 2000


def test_the_host_sees_the_failure_in_her_list(client_for, failed, hana):
    (listed,) = client_for(hana).get(WITHDRAWALS).json()["results"]
    assert listed["status"] == "failed"
    assert listed["failed_at"] is not None
    assert (listed["refunded_at"], listed["refund_reason"]) == (None, "")
    assert "payout_error" not in listed  # the provider's words are for staff


def test_a_failed_withdrawal_does_not_block_a_new_request(client_for, failed, hana):
    response = client_for(hana).post(WITHDRAWALS, {"coins": 1500}, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "pending"
    assert balance(hana) == 500
    assert system_total(WalletKind.WITHDRAWAL_HOLD) == 2500


# --- Refunding -----------------------------------------------------------------------------


def test_staff_confirm_a_refund_with_a_reason_and_the_coins_come_back(finance, failed, hana):
    confirm = act(finance, "refund_selected", failed)
    # First a page that names what will be refunded and why the payout failed; nothing moved.
    assert "account closed" in confirm and f"#{failed.pk}" in confirm
    assert 'name="reason"' in confirm and 'name="post"' in confirm
    assert balance(hana) == 2000

    page = refund_in_admin(finance, failed, reason="Bank account closed; coins returned")

    assert "Refunded: 1 withdrawal(s)." in page
    failed.refresh_from_db()
    assert failed.status == "refunded"
    assert failed.refund_reason == "Bank account closed; coins returned"
    assert failed.refunded_at is not None
    assert failed.refunded_by is not None and failed.refunded_by.email == "fiona@example.com"
    assert balance(hana) == 3000
    assert system_total(WalletKind.WITHDRAWAL_HOLD) == 0
    refund = failed.settlement
    assert refund is not None
    assert (refund.kind, refund.idempotency_key, refund.reference) == (
        "withdrawal_refund",
        f"withdrawal:{failed.pk}:refund",
        f"withdrawal:{failed.pk}",
    )
    entries = Entry.objects.filter(transaction=refund).order_by("amount")
    assert [(e.wallet_id, e.type, e.amount) for e in entries] == [
        (failed.hold_wallet_id, "withdrawal_refund", -1000),
        (hana.wallet.pk, "withdrawal_refund", 1000),
    ]


def test_the_host_sees_the_refund_in_her_transactions(client_for, finance, failed, hana):
    refund_in_admin(finance, failed, reason="Payout impossible")

    newest = client_for(hana).get("/api/v1/wallet/transactions").json()["results"][0]
    assert (newest["type"], newest["amount"], newest["balance_after"]) == (
        "withdrawal_refund",
        1000,
        3000,
    )
    (listed,) = client_for(hana).get(WITHDRAWALS).json()["results"]
    assert (listed["status"], listed["refund_reason"]) == ("refunded", "Payout impossible")


def test_a_double_click_refunds_once_and_the_ledger_reconciles(finance, failed, hana):
    refund_in_admin(finance, failed, reason="Payout impossible")
    again = refund_in_admin(finance, failed, reason="Payout impossible")

    assert "Refunded: 0 withdrawal(s). Skipped 1" in again
    assert Transaction.objects.filter(kind="withdrawal_refund").count() == 1
    assert balance(hana) == 3000
    call_command("reconcile_ledger")  # raises CommandError when it does not balance


@pytest.mark.parametrize("reason", ["", "   ", "x" * 201])
def test_a_refund_needs_a_reason(finance, failed, staff, reason):
    page = refund_in_admin(finance, failed, reason=reason)

    assert "Write a reason" in page
    with pytest.raises(ValidationFailed):
        withdrawal_refund(withdrawal_id=failed.pk, staff=staff, reason=reason)
    failed.refresh_from_db()
    assert failed.status == "failed"
    assert balance(failed.user) == 2000


def test_only_failed_withdrawals_are_refunded(pending, staff, hana):
    with pytest.raises(Conflict):
        withdrawal_refund(withdrawal_id=pending.pk, staff=staff, reason="No")
    withdrawal_approve(withdrawal_id=pending.pk, staff=staff)
    # Approved: its payout may be on its way, so it can't be refunded...
    with pytest.raises(Conflict):
        withdrawal_refund(withdrawal_id=pending.pk, staff=staff, reason="No")
    withdrawals_process()
    # ...and paid is paid.
    with pytest.raises(Conflict):
        withdrawal_refund(withdrawal_id=pending.pk, staff=staff, reason="No")
    assert not Transaction.objects.filter(kind="withdrawal_refund").exists()
    # A failed one can't be rejected either: reviewing is over.
    nina = HostFactory.create(email="nina@example.com")
    earn(nina, 3000)
    other = withdrawal_request(user=nina, coins=1000)
    withdrawal_approve(withdrawal_id=other.pk, staff=staff)
    fail_every_attempt()
    with pytest.raises(Conflict):
        withdrawal_reject(withdrawal_id=other.pk, staff=staff, reason="No")


def test_the_refund_action_skips_what_is_not_failed(finance, failed, staff):
    nina = HostFactory.create(email="nina@example.com")
    earn(nina, 3000)
    waiting = withdrawal_request(user=nina, coins=1000)

    page = refund_in_admin(finance, failed, waiting, reason="Payout impossible")

    assert "Refunded: 1 withdrawal(s). Skipped 1: " in page
    assert f"#{waiting.pk} (The withdrawal is pending, not failed.)" in page
    waiting.refresh_from_db()
    assert waiting.status == "pending"


# --- Retrying --------------------------------------------------------------------------------


def test_staff_send_a_failed_withdrawal_back_to_the_sweep(finance, failed):
    page = act(finance, "retry_payout", failed, post="yes")

    assert "Sent back to the payout sweep: 1 withdrawal(s)." in page
    failed.refresh_from_db()
    assert (failed.status, failed.payout_attempts) == ("approved", 0)
    assert withdrawals_process() == 1
    failed.refresh_from_db()
    assert failed.status == "paid"
    assert system_total(WalletKind.PAYOUTS) == 1000


def test_a_retry_waits_while_the_host_has_another_open_withdrawal(finance, failed, hana):
    newer = withdrawal_request(user=hana, coins=1000)

    page = act(finance, "retry_payout", failed, post="yes")

    assert "Sent back to the payout sweep: 0 withdrawal(s). Skipped 1" in page
    assert f"another open withdrawal (#{newer.pk})" in page
    failed.refresh_from_db()
    assert failed.status == "failed"


def test_the_failed_filter_lists_them(finance, failed, pending):
    listed = finance.get(ADMIN, {"status__exact": "failed"}).content.decode()
    assert f"{ADMIN}{failed.pk}/change/" in listed


# --- The migration ---------------------------------------------------------------------------


def test_the_migration_fails_the_payouts_that_had_given_up(approved):
    # Before `failed` existed, a payout out of attempts stayed `approved` ("stuck").
    Withdrawal.objects.filter(pk=approved.pk).update(payout_attempts=PAYOUT_MAX_ATTEMPTS)
    migration = importlib.import_module("wallet.migrations.0005_withdrawal_failed_refunded")

    migration.fail_stuck_payouts(apps, None)

    approved.refresh_from_db()
    assert approved.status == "failed"
    assert approved.failed_at is not None


# --- Pushes ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_the_host_hears_that_it_failed_and_was_refunded(settings: Any) -> None:
    pin_withdrawal_rules(settings)
    hana = await sync_to_async(HostFactory.create)(email="hana@example.com")
    staff_user: User = await sync_to_async(make_staff)()
    await sync_to_async(earn)(hana, 3000)
    request = await sync_to_async(withdrawal_request)(user=hana, coins=1000)
    await sync_to_async(withdrawal_approve)(withdrawal_id=request.pk, staff=staff_user)

    async with open_socket(hana) as phone:
        await sync_to_async(fail_every_attempt)()
        failure = await phone.receive_json_from(timeout=5)
        await sync_to_async(withdrawal_refund)(
            withdrawal_id=request.pk, staff=staff_user, reason="Payout impossible"
        )
        refund = [await phone.receive_json_from(timeout=5) for _ in range(2)]
        assert await phone.receive_nothing(timeout=0.3)

    assert failure["type"] == "withdrawal:update"
    assert failure["data"]["withdrawal"]["status"] == "failed"
    assert refund[0] == {"type": "wallet:balance", "data": {"balance": 3000}}
    assert refund[1]["type"] == "withdrawal:update"
    assert refund[1]["data"]["withdrawal"]["status"] == "refunded"
    assert refund[1]["data"]["withdrawal"]["refund_reason"] == "Payout impossible"


def test_a_retry_is_confirmed_first_and_nothing_changes_before(finance, failed):
    page = act(finance, "retry_payout", failed)

    assert "Retry payouts" in page and f"#{failed.pk}: account closed" in page
    assert 'name="post" value="yes"' in page and 'value="retry_payout"' in page
    failed.refresh_from_db()
    assert failed.status == "failed"
