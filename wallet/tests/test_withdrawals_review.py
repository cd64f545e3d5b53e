"""After the request: staff approve or reject (with the refund) in the admin, the payout sweep
pays approved withdrawals through the sandbox provider and retries failures, and the host
hears about every change over the socket."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission
from django.test import Client

import wallet.withdrawals.admin  # noqa: F401  (see test_the_admin_is_autodiscovered)
from adminpanel.models import AuditEntry
from tests.factories import HostFactory, UserFactory
from tests.helpers import balance, earn
from tests.servers import run_python
from videochat.errors import Conflict, PermissionDenied, ValidationFailed
from videochat.gateway.testing import open_socket, sync_thread_connections_closed  # noqa: F401
from wallet.ledger.models import Entry, Transaction, WalletKind
from wallet.tests.withdrawal_helpers import ADMIN, act, make_staff, system_total
from wallet.withdrawals.models import Withdrawal
from wallet.withdrawals.providers import (
    PayoutRequest,
    SandboxPayoutProvider,
    sandbox_payouts_failing,
)
from wallet.withdrawals.services import (
    withdrawal_approve,
    withdrawal_pay,
    withdrawal_reject,
    withdrawal_request,
)
from wallet.withdrawals.tasks import withdrawals_process

# sandbox_requests (wallet/tests/conftest.py) clears the sandbox's record around each test.
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("sandbox_requests", "withdrawal_rules"),
]


# --- The services' rules -----------------------------------------------------------------------


def test_only_pending_withdrawals_are_reviewed(approved, staff):
    with pytest.raises(Conflict):
        withdrawal_approve(withdrawal_id=approved.pk, staff=staff)
    # An approved withdrawal may be on its way to the bank: no refund any more.
    with pytest.raises(Conflict):
        withdrawal_reject(withdrawal_id=approved.pk, staff=staff, reason="Too late")
    approved.refresh_from_db()
    assert approved.status == "approved"


def test_only_staff_review(pending, alice):
    with pytest.raises(PermissionDenied):
        withdrawal_approve(withdrawal_id=pending.pk, staff=alice)
    with pytest.raises(PermissionDenied):
        withdrawal_reject(withdrawal_id=pending.pk, staff=alice, reason="x")
    pending.refresh_from_db()
    assert pending.status == "pending"


@pytest.mark.parametrize("reason", ["", "   ", "x" * 201])
def test_a_rejection_needs_a_reason(pending, staff, reason):
    with pytest.raises(ValidationFailed):
        withdrawal_reject(withdrawal_id=pending.pk, staff=staff, reason=reason)
    pending.refresh_from_db()
    assert pending.status == "pending"


# --- The admin -------------------------------------------------------------------------------


def test_staff_approve_in_the_admin(finance, pending):
    page = act(finance, "approve_selected", pending, post="yes")

    assert "Approved (or given a first approval): 1 withdrawal(s)." in page
    pending.refresh_from_db()
    assert pending.status == "approved"
    assert pending.reviewed_by is not None
    assert pending.reviewed_by.email == "fiona@example.com"
    assert pending.reviewed_at is not None
    # Approval moves nothing: the coins stay held until the payout.
    assert balance(pending.user) == 2000
    assert system_total(WalletKind.WITHDRAWAL_HOLD) == 1000


def test_staff_reject_in_the_admin_and_the_coins_come_back(finance, pending, hana):
    page = act(finance, "reject_selected", pending, post="yes", reason="Payout details missing")

    assert "Rejected and refunded: 1 withdrawal(s)." in page
    pending.refresh_from_db()
    assert (pending.status, pending.rejection_reason) == ("rejected", "Payout details missing")
    assert balance(hana) == 3000
    assert system_total(WalletKind.WITHDRAWAL_HOLD) == 0
    assert pending.settlement is not None
    refund = pending.settlement
    assert (refund.kind, refund.idempotency_key, refund.reference) == (
        "withdrawal_refund",
        f"withdrawal:{pending.pk}:refund",
        f"withdrawal:{pending.pk}",
    )
    entries = Entry.objects.filter(transaction=refund).order_by("amount")
    assert [(e.wallet_id, e.type, e.amount) for e in entries] == [
        (pending.hold_wallet_id, "withdrawal_refund", -1000),
        (hana.wallet.pk, "withdrawal_refund", 1000),
    ]


def test_an_action_names_what_it_skipped(finance, pending, staff):
    other_host = HostFactory.create(email="nina@example.com")
    earn(other_host, 3000)
    done = withdrawal_approve(
        withdrawal_id=withdrawal_request(user=other_host, coins=1000).pk, staff=staff
    )

    page = act(finance, "reject_selected", pending, done, post="yes", reason="No")

    assert "Rejected and refunded: 1 withdrawal(s). Skipped 1: " in page
    assert f"#{done.pk} (The withdrawal is approved, no longer pending.)" in page
    done.refresh_from_db()
    assert done.status == "approved"
    assert balance(other_host) == 2000


def test_rejecting_without_a_reason_changes_nothing(finance, pending):
    page = act(finance, "reject_selected", pending, post="yes", reason="  ")

    assert "Write a rejection reason" in page
    pending.refresh_from_db()
    assert pending.status == "pending"
    assert balance(pending.user) == 2000


def test_staff_without_the_permission_cannot_review(pending):
    viewer = UserFactory.create(email="vic@example.com", role="staff", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_withdrawal"))
    client = Client()
    client.force_login(viewer)

    assert client.get(ADMIN).status_code == 200
    act(client, "approve_selected", pending, post="yes")

    pending.refresh_from_db()
    assert pending.status == "pending"


@pytest.mark.parametrize(
    ("action", "says"),
    [
        ("approve_selected", "becomes <code>approved</code>"),
        ("reject_selected", "is <code>rejected</code>"),
    ],
)
def test_approving_or_rejecting_first_shows_what_will_happen(finance, pending, hana, action, says):
    page = act(finance, action, pending, reason="Payout details missing")

    # A page naming the withdrawal and what the action does, whose form posts it again.
    assert says in page and f"#{pending.pk}" in page and "hana@example.com" in page
    assert f'name="action" value="{action}"' in page and 'name="post" value="yes"' in page
    assert ('name="reason"' in page) == (action == "reject_selected")
    pending.refresh_from_db()
    assert (pending.status, pending.reviewed_by) == ("pending", None)
    assert balance(hana) == 2000
    assert not AuditEntry.objects.exists()


def test_a_double_submit_rejects_and_refunds_once(finance, pending, hana):
    act(finance, "reject_selected", pending, post="yes", reason="No")
    again = act(finance, "reject_selected", pending, post="yes", reason="No")

    assert "Rejected and refunded: 0 withdrawal(s). Skipped 1" in again
    assert Transaction.objects.filter(kind="withdrawal_refund").count() == 1
    assert balance(hana) == 3000
    assert AuditEntry.objects.filter(action="withdrawal.reject").count() == 1


def test_withdrawals_cannot_be_added_edited_or_deleted(finance, pending):
    assert finance.get(f"{ADMIN}add/").status_code == 403
    page = finance.get(f"{ADMIN}{pending.pk}/change/")
    assert page.status_code == 200
    assert b'name="coins"' not in page.content
    edit = finance.post(f"{ADMIN}{pending.pk}/change/", {"coins": 1, "status": "paid"})
    assert edit.status_code == 403
    assert finance.get(f"{ADMIN}{pending.pk}/delete/").status_code == 403
    pending.refresh_from_db()
    assert (pending.coins, pending.status) == (1000, "pending")


def test_the_list_filters_by_status_and_finds_by_email(finance, pending, staff):
    nina = HostFactory.create(email="nina@example.com")
    earn(nina, 3000)
    withdrawal_approve(withdrawal_id=withdrawal_request(user=nina, coins=1500).pk, staff=staff)

    listed = finance.get(ADMIN).content.decode()
    assert "hana@example.com" in listed
    assert "nina@example.com" in listed
    by_status = finance.get(ADMIN, {"status__exact": "pending"}).content.decode()
    assert "hana@example.com" in by_status
    assert "nina@example.com" not in by_status
    by_email = finance.get(ADMIN, {"q": "nina@"}).content.decode()
    assert "nina@example.com" in by_email
    assert "hana@example.com" not in by_email


@pytest.mark.slow
def test_the_admin_is_autodiscovered():
    # Django loads only wallet/admin.py: it must import the withdrawals' admin. A fresh process,
    # because this module imports that admin itself.
    check = (
        "import django; django.setup();"
        "from django.contrib import admin; from wallet.withdrawals.models import Withdrawal;"
        "assert admin.site.is_registered(Withdrawal), 'Withdrawal is not in the admin'"
    )
    result = run_python(check)
    assert result.returncode == 0, result.stderr[-2000:]


# --- Payouts ---------------------------------------------------------------------------------


def test_the_sweep_pays_approved_withdrawals(approved, hana, sandbox_requests):
    assert withdrawals_process() == 1

    approved.refresh_from_db()
    assert approved.status == "paid"
    assert approved.paid_at is not None
    assert approved.payout_ref.startswith("sandbox-")
    assert (approved.payout_attempts, approved.payout_error) == (1, "")
    assert [(r.idempotency_key, r.user_id, r.coins) for r in sandbox_requests] == [
        (f"withdrawal-{approved.pk}", hana.pk, 1000)
    ]
    payout = approved.settlement
    assert payout is not None
    assert (payout.kind, payout.idempotency_key) == (
        "withdrawal_payout",
        f"withdrawal:{approved.pk}:payout",
    )
    # The coins left the hold for the payouts wallet; the host's balance is unchanged.
    assert system_total(WalletKind.WITHDRAWAL_HOLD) == 0
    assert system_total(WalletKind.PAYOUTS) == 1000
    assert balance(hana) == 2000
    assert {e.type for e in Entry.objects.filter(transaction=payout)} == {"withdrawal_payout"}


def test_the_sweep_leaves_pending_and_finished_withdrawals_alone(pending, staff, sandbox_requests):
    nina = HostFactory.create(email="nina@example.com")
    earn(nina, 3000)
    rejected = withdrawal_request(user=nina, coins=1000)
    withdrawal_reject(withdrawal_id=rejected.pk, staff=staff, reason="No")

    assert withdrawals_process() == 0

    assert list(sandbox_requests) == []
    pending.refresh_from_db()
    assert pending.status == "pending"


def test_paying_twice_pays_once(approved, sandbox_requests):
    withdrawal_pay(withdrawal_id=approved.pk)

    assert withdrawal_pay(withdrawal_id=approved.pk) is None
    assert withdrawals_process() == 0
    assert len(sandbox_requests) == 1
    assert Transaction.objects.filter(kind="withdrawal_payout").count() == 1


def test_a_failed_payout_is_retried_with_the_same_key(approved, sandbox_requests):
    with sandbox_payouts_failing("bank timeout"):
        assert withdrawals_process() == 0

    approved.refresh_from_db()
    assert (approved.status, approved.payout_attempts) == ("approved", 1)
    assert approved.payout_error == "bank timeout"
    assert system_total(WalletKind.WITHDRAWAL_HOLD) == 1000
    assert not Transaction.objects.filter(kind="withdrawal_payout").exists()

    assert withdrawals_process() == 1

    approved.refresh_from_db()
    assert (approved.status, approved.payout_attempts, approved.payout_error) == ("paid", 2, "")
    assert [r.idempotency_key for r in sandbox_requests] == [f"withdrawal-{approved.pk}"] * 2


def test_a_retry_after_a_crash_finds_the_payout_already_made(approved, sandbox_requests):
    # A worker claimed attempt 1 and the provider paid, then the worker died before it
    # wrote anything down.
    Withdrawal.objects.filter(pk=approved.pk).update(payout_attempts=1)
    first_ref = SandboxPayoutProvider().send(
        PayoutRequest(
            idempotency_key=f"withdrawal-{approved.pk}",
            user_id=approved.user_id,
            coins=1000,
            amount=approved.amount,
            currency=approved.currency,
        )
    )

    assert withdrawals_process() == 1

    approved.refresh_from_db()
    assert (approved.status, approved.payout_ref, approved.payout_attempts) == (
        "paid",
        first_ref,
        2,
    )
    assert {r.idempotency_key for r in sandbox_requests} == {f"withdrawal-{approved.pk}"}
    assert system_total(WalletKind.PAYOUTS) == 1000


# Failing for good, refunds and retries: test_withdrawals_failed.py.


def test_retry_skips_withdrawals_that_are_not_failed(approved, finance):
    page = act(finance, "retry_payout", approved, post="yes")

    assert "Sent back to the payout sweep: 0 withdrawal(s). Skipped 1" in page


# --- Pushes ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_the_host_hears_of_every_change():
    hana = await sync_to_async(HostFactory.create)(email="hana@example.com")
    staff = await sync_to_async(make_staff)()
    await sync_to_async(earn)(hana, 3000)
    first = await sync_to_async(withdrawal_request)(user=hana, coins=1000)

    async with open_socket(hana) as phone:
        await sync_to_async(withdrawal_reject)(withdrawal_id=first.pk, staff=staff, reason="No")
        refund = [await phone.receive_json_from(timeout=5) for _ in range(2)]
        second = await sync_to_async(withdrawal_request)(user=hana, coins=500)
        await phone.receive_json_from(timeout=5)  # the balance after the hold
        await sync_to_async(withdrawal_approve)(withdrawal_id=second.pk, staff=staff)
        approval = await phone.receive_json_from(timeout=5)
        await sync_to_async(withdrawal_pay)(withdrawal_id=second.pk)
        payout = await phone.receive_json_from(timeout=5)

    assert refund[0] == {"type": "wallet:balance", "data": {"balance": 3000}}
    assert refund[1]["type"] == "withdrawal:update"
    assert refund[1]["data"]["withdrawal"]["id"] == first.pk
    assert refund[1]["data"]["withdrawal"]["status"] == "rejected"
    assert refund[1]["data"]["withdrawal"]["rejection_reason"] == "No"
    assert approval["type"] == "withdrawal:update"
    assert approval["data"]["withdrawal"]["status"] == "approved"
    # The payout touches no user wallet: only the status change is pushed.
    assert payout["type"] == "withdrawal:update"
    assert payout["data"]["withdrawal"]["status"] == "paid"
    assert payout["data"]["withdrawal"]["paid_at"] is not None
