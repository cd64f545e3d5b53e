"""Every staff decision on a withdrawal in the admin writes one audit entry, in its
transaction: who, what, before → after, why, from where. A refused one writes none."""

from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from adminpanel.models import AuditEntry
from adminpanel.roles import FINANCE
from tests.factories import StaffFactory
from tests.helpers import logged_in, the_audit_entry
from wallet.tests.withdrawal_helpers import act
from wallet.withdrawals.models import Withdrawal
from wallet.withdrawals.providers import sandbox_payouts_failing
from wallet.withdrawals.services import PAYOUT_MAX_ATTEMPTS
from wallet.withdrawals.tasks import withdrawals_process

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("sandbox_requests", "withdrawal_rules"),
]

IP, AGENT = "198.51.100.40", "Mozilla/5.0 (finance desk)"


@pytest.fixture
def fay() -> User:
    return StaffFactory.create(email="fay@example.com", roles=[FINANCE])


@pytest.fixture
def desk(fay: User) -> Client:
    return logged_in(fay, REMOTE_ADDR=IP, HTTP_USER_AGENT=AGENT)


@pytest.fixture
def failed(approved: Withdrawal) -> Withdrawal:
    with sandbox_payouts_failing("account closed"):
        for _ in range(PAYOUT_MAX_ATTEMPTS):
            withdrawals_process()
    approved.refresh_from_db()
    return approved


def decided(withdrawal: Withdrawal, fay: User, action: str, **expected: Any) -> AuditEntry:
    """The one entry fay's decision on `withdrawal` wrote, checked."""
    entries = AuditEntry.objects.filter(target_id=str(withdrawal.pk), actor=fay)
    assert entries.count() == 1, list(entries)
    entry = entries.get()
    assert (entry.action, entry.target_type, entry.actor_label) == (
        action,
        "wallet.withdrawal",
        "fay@example.com",
    )
    assert (entry.ip_address, entry.user_agent) == (IP, AGENT)
    assert {name: getattr(entry, name) for name in expected} == expected
    return entry


def test_approving_writes_one_entry(desk, fay, pending):
    act(desk, "approve_selected", pending, post="yes")

    the_audit_entry(action="withdrawal.approve")
    decided(
        pending,
        fay,
        "withdrawal.approve",
        before={"status": "pending"},
        after={"status": "approved"},
        reason="",
    )


def test_rejecting_writes_one_entry_with_the_reason(desk, fay, pending):
    act(desk, "reject_selected", pending, post="yes", reason="Payout details missing")

    the_audit_entry(action="withdrawal.reject")
    decided(
        pending,
        fay,
        "withdrawal.reject",
        before={"status": "pending"},
        after={"status": "rejected"},
        reason="Payout details missing",
    )


def test_refunding_a_failed_payout_writes_one_entry(desk, fay, failed):
    act(desk, "refund_selected", failed, post="yes", reason="Bank account closed")

    decided(
        failed,
        fay,
        "withdrawal.refund",
        before={"status": "failed"},
        after={"status": "refunded"},
        reason="Bank account closed",
    )


def test_retrying_a_failed_payout_writes_one_entry(desk, fay, failed):
    act(desk, "retry_payout", failed, post="yes")

    decided(
        failed,
        fay,
        "withdrawal.payout_retry",
        before={"status": "failed", "payout_attempts": PAYOUT_MAX_ATTEMPTS},
        after={"status": "approved", "payout_attempts": 0},
    )


def test_a_refused_decision_writes_nothing(desk, fay, approved):
    # Already approved (by the fixture's staff, whose entry is the only one): both refused.
    before = list(AuditEntry.objects.values_list("pk", flat=True))

    act(desk, "approve_selected", approved, post="yes")
    act(desk, "reject_selected", approved, post="yes", reason="Too late")
    act(desk, "refund_selected", approved, post="yes", reason="Too late")

    assert list(AuditEntry.objects.values_list("pk", flat=True)) == before
    assert not AuditEntry.objects.filter(actor=fay).exists()
