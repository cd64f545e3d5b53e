"""Two approvers (docs/withdrawals.md, "Review"): a withdrawal above
WITHDRAWAL_TWO_APPROVALS_ABOVE_COINS stays `pending` after its first approval and is approved
by a second, different member of staff; the same one twice is refused. Each step audited."""

import pytest
from django.test import Client

from accounts.models import User
from adminpanel.models import AuditEntry
from tests.helpers import earn, logged_in
from videochat.errors import Conflict
from wallet.tests.withdrawal_helpers import TWO_APPROVALS_ABOVE, act, make_trusted
from wallet.withdrawals.models import Withdrawal
from wallet.withdrawals.services import withdrawal_approve, withdrawal_reject, withdrawal_request
from wallet.withdrawals.tasks import withdrawals_process

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("withdrawal_rules", "sandbox_requests"),
]

LARGE = TWO_APPROVALS_ABOVE + 1


@pytest.fixture
def large(hana: User) -> Withdrawal:
    earn(hana, 10_000)
    return withdrawal_request(user=hana, coins=LARGE)


@pytest.fixture
def second_staff() -> User:
    return User.objects.create_superuser("second@example.com", "x", name="Sam")


def test_the_first_approval_leaves_it_pending(large, staff):
    withdrawal = withdrawal_approve(withdrawal_id=large.pk, staff=staff)

    withdrawal.refresh_from_db()
    assert (withdrawal.status, withdrawal.first_approved_by, withdrawal.reviewed_by) == (
        "pending",
        staff,
        None,
    )
    assert withdrawal.first_approved_at is not None
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.before, entry.after) == (
        "withdrawal.approve_first",
        staff,
        {"status": "pending", "first_approved_by": None},
        {"status": "pending", "first_approved_by": str(staff)},
    )


def test_the_same_member_of_staff_cannot_approve_twice(large, staff):
    withdrawal_approve(withdrawal_id=large.pk, staff=staff)

    with pytest.raises(Conflict, match="a second member of staff must approve"):
        withdrawal_approve(withdrawal_id=large.pk, staff=staff)

    large.refresh_from_db()
    assert large.status == "pending"
    assert AuditEntry.objects.count() == 1


def test_a_second_member_of_staff_approves_it_and_it_is_paid(large, staff, second_staff):
    withdrawal_approve(withdrawal_id=large.pk, staff=staff)
    withdrawal_approve(withdrawal_id=large.pk, staff=second_staff)

    large.refresh_from_db()
    assert (large.status, large.first_approved_by, large.reviewed_by) == (
        "approved",
        staff,
        second_staff,
    )
    second = AuditEntry.objects.get(action="withdrawal.approve")
    assert (second.actor, second.after) == (
        second_staff,
        {"status": "approved", "first_approved_by": str(staff)},
    )
    assert withdrawals_process() == 1


def test_up_to_the_threshold_one_approval_is_enough(hana, staff):
    earn(hana, 10_000)
    withdrawal = withdrawal_request(user=hana, coins=TWO_APPROVALS_ABOVE)

    withdrawal_approve(withdrawal_id=withdrawal.pk, staff=staff)

    withdrawal.refresh_from_db()
    assert (withdrawal.status, withdrawal.first_approved_by) == ("approved", None)


def test_one_member_of_staff_may_still_reject_it(large, staff):
    withdrawal_approve(withdrawal_id=large.pk, staff=staff)

    withdrawal_reject(withdrawal_id=large.pk, staff=staff, reason="Changed my mind")

    large.refresh_from_db()
    assert large.status == "rejected"


def test_beat_leaves_a_large_withdrawal_to_two_members_of_staff(large, hana, settings):
    make_trusted(hana)
    settings.WITHDRAWAL_AUTO_APPROVE_MAX_COINS = 10_000
    settings.WITHDRAWAL_AUTO_APPROVE_DAILY_MAX_COINS = 10_000

    withdrawals_process()

    large.refresh_from_db()
    assert large.status == "pending"
    assert "two members of staff must approve it" in large.review_note


def test_in_the_admin_two_members_of_staff_approve(large, staff, second_staff):
    first, second = logged_in(staff), logged_in(second_staff)

    after_first = act(first, "approve_selected", large, post="yes")
    again = act(first, "approve_selected", large, post="yes")
    after_second = act(second, "approve_selected", large, post="yes")

    assert "First approval recorded for #" in after_first
    assert "Skipped 1" in again and "a second member of staff must approve" in again
    large.refresh_from_db()
    assert (large.status, large.first_approved_by, large.reviewed_by) == (
        "approved",
        staff,
        second_staff,
    )
    assert "Approved (or given a first approval): 1" in after_second


def test_the_admin_shows_who_approved_first(large, staff, finance: Client):
    withdrawal_approve(withdrawal_id=large.pk, staff=staff)

    page = finance.get(f"/admin/wallet/withdrawal/{large.pk}/change/").content.decode()
    confirmation = finance.post(
        "/admin/wallet/withdrawal/",
        {"action": "approve_selected", "_selected_action": [large.pk]},
    ).content.decode()

    assert staff.email in page
    assert f"first approved by {staff.email}" in confirmation
