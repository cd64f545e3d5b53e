"""Review on beat (docs/withdrawals.md, "Review"): every request cools off before anyone may
approve it; then `withdrawals_process` approves it within the limits (per request, per host
per day) for hosts in good standing, or leaves it for staff with the reason; each decision is
audited with the system as its actor."""

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Report, User
from adminpanel.models import AuditEntry
from tests.helpers import earn
from videochat.errors import Conflict
from wallet.tests.withdrawal_helpers import (
    ADMIN,
    AUTO_APPROVE_DAILY_MAX,
    AUTO_APPROVE_MAX,
    MIN_COINS,
    act,
    make_trusted,
)
from wallet.withdrawals.models import Withdrawal
from wallet.withdrawals.services import withdrawal_approve, withdrawal_reject, withdrawal_request
from wallet.withdrawals.tasks import withdrawals_process

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("withdrawal_rules", "sandbox_requests"),
]

COOLING_OFF_HOURS = 24


@pytest.fixture
def trusted(hana: User) -> User:
    make_trusted(hana)
    earn(hana, 5000)
    return hana


def aged(withdrawal: Withdrawal, hours: float) -> Withdrawal:
    """As if `withdrawal` had been requested `hours` ago."""
    created_at = timezone.now() - timedelta(hours=hours)
    Withdrawal.objects.filter(pk=withdrawal.pk).update(created_at=created_at)
    withdrawal.refresh_from_db()
    return withdrawal


def system_decisions(withdrawal: Withdrawal) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (entry.action, entry.reason, entry.after)
        for entry in AuditEntry.objects.filter(target_id=str(withdrawal.pk), actor=None).order_by(
            "pk"
        )
    ]


# --- Cooling-off ---------------------------------------------------------------------------


def test_nothing_is_approved_during_the_cooling_off(trusted, staff, settings):
    settings.WITHDRAWAL_COOLING_OFF_HOURS = COOLING_OFF_HOURS
    withdrawal = aged(withdrawal_request(user=trusted, coins=MIN_COINS), COOLING_OFF_HOURS - 0.1)

    withdrawals_process()
    with pytest.raises(Conflict, match="Cooling off until") as refused:
        withdrawal_approve(withdrawal_id=withdrawal.pk, staff=staff)

    withdrawal.refresh_from_db()
    assert (withdrawal.status, withdrawal.review_note) == ("pending", "")
    assert "reviewable_at" in refused.value.details
    assert not AuditEntry.objects.exists()


def test_after_the_cooling_off_beat_approves_and_pays(trusted, settings, sandbox_requests):
    settings.WITHDRAWAL_COOLING_OFF_HOURS = COOLING_OFF_HOURS
    withdrawal = aged(withdrawal_request(user=trusted, coins=AUTO_APPROVE_MAX), COOLING_OFF_HOURS)

    paid = withdrawals_process()

    withdrawal.refresh_from_db()
    assert paid == 1
    assert (withdrawal.status, withdrawal.auto_approved, withdrawal.reviewed_by) == (
        "paid",
        True,
        None,
    )
    assert withdrawal.review_note.startswith("Auto-approved")
    assert system_decisions(withdrawal) == [
        ("withdrawal.auto_approve", withdrawal.review_note, {"status": "approved"})
    ]
    assert AuditEntry.objects.get().actor_label == "system"


def test_staff_may_reject_during_the_cooling_off(trusted, staff, settings):
    settings.WITHDRAWAL_COOLING_OFF_HOURS = COOLING_OFF_HOURS
    withdrawal = withdrawal_request(user=trusted, coins=MIN_COINS)

    withdrawal_reject(withdrawal_id=withdrawal.pk, staff=staff, reason="Wrong account")

    withdrawal.refresh_from_db()
    assert withdrawal.status == "rejected"


def test_staff_approve_once_the_cooling_off_is_over(trusted, staff, settings):
    settings.WITHDRAWAL_COOLING_OFF_HOURS = COOLING_OFF_HOURS
    withdrawal = aged(withdrawal_request(user=trusted, coins=MIN_COINS), COOLING_OFF_HOURS)

    withdrawal_approve(withdrawal_id=withdrawal.pk, staff=staff)

    withdrawal.refresh_from_db()
    assert (withdrawal.status, withdrawal.reviewed_by) == ("approved", staff)


# --- Limits and standing -------------------------------------------------------------------


def test_above_the_per_request_limit_is_left_for_staff_with_the_reason(trusted):
    withdrawal = withdrawal_request(user=trusted, coins=AUTO_APPROVE_MAX + 1)

    withdrawals_process()
    withdrawals_process()  # decided once

    withdrawal.refresh_from_db()
    assert (withdrawal.status, withdrawal.auto_approved) == ("pending", False)
    note = f"For staff: above the auto-approval limit of {AUTO_APPROVE_MAX} coins per request."
    assert withdrawal.review_note == note
    assert system_decisions(withdrawal) == [
        ("withdrawal.refer_to_staff", note, {"status": "pending"})
    ]


def test_the_daily_limit_per_host(trusted):
    first = withdrawal_request(user=trusted, coins=AUTO_APPROVE_MAX)
    withdrawals_process()  # approved and paid
    second = withdrawal_request(user=trusted, coins=AUTO_APPROVE_DAILY_MAX - AUTO_APPROVE_MAX + 1)

    withdrawals_process()

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == "paid"
    assert second.status == "pending"
    assert "auto-approved withdrawals of the last 24 hours" in second.review_note


def test_the_daily_limit_counts_the_last_24_hours(trusted):
    first = withdrawal_request(user=trusted, coins=AUTO_APPROVE_MAX)
    withdrawals_process()
    Withdrawal.objects.filter(pk=first.pk).update(
        reviewed_at=timezone.now() - timedelta(hours=24, minutes=1)
    )
    second = withdrawal_request(user=trusted, coins=AUTO_APPROVE_MAX)

    withdrawals_process()

    second.refresh_from_db()
    assert (second.status, second.auto_approved) == ("paid", True)


def _new_account(host: User, staff: User, settings: Any) -> None:
    User.objects.filter(pk=host.pk).update(created_at=timezone.now() - timedelta(days=29))


def _open_report(host: User, staff: User, settings: Any) -> None:
    Report.objects.create(reporter=staff, reported=host, reason="rude")


def _recent_rejection(host: User, staff: User, settings: Any) -> None:
    earlier = withdrawal_request(user=host, coins=MIN_COINS)
    withdrawal_reject(withdrawal_id=earlier.pk, staff=staff, reason="No")
    Withdrawal.objects.filter(pk=earlier.pk).update(reviewed_at=timezone.now() - timedelta(days=29))


def _auto_approval_off(host: User, staff: User, settings: Any) -> None:
    settings.WITHDRAWAL_AUTO_APPROVE_MAX_COINS = 0


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (_new_account, "not in good standing: The account is younger than 30 days."),
        (_open_report, "not in good standing: A report against the host is open."),
        (_recent_rejection, "rejected in the last 30 days"),
        (_auto_approval_off, "For staff: auto-approval is off."),
    ],
)
def test_auto_approval_needs_good_standing(trusted, staff, settings, spoil, reason):
    spoil(trusted, staff, settings)
    withdrawal = withdrawal_request(user=trusted, coins=MIN_COINS)

    withdrawals_process()

    withdrawal.refresh_from_db()
    assert (withdrawal.status, withdrawal.auto_approved) == ("pending", False)
    assert reason in withdrawal.review_note


def test_old_rejections_and_closed_reports_do_not_count(trusted, staff):
    Report.objects.create(reporter=staff, reported=trusted, reason="x", status="dismissed")
    _recent_rejection(trusted, staff, None)
    Withdrawal.objects.update(reviewed_at=timezone.now() - timedelta(days=31))
    withdrawal = withdrawal_request(user=trusted, coins=MIN_COINS)

    withdrawals_process()

    withdrawal.refresh_from_db()
    assert withdrawal.auto_approved


def test_the_admin_shows_why_a_withdrawal_waits_for_staff(trusted, finance: Client):
    withdrawal = withdrawal_request(user=trusted, coins=AUTO_APPROVE_MAX + 1)
    withdrawals_process()

    listing = finance.get(ADMIN).content.decode()
    page = finance.get(f"{ADMIN}{withdrawal.pk}/change/").content.decode()

    for html in (listing, page):
        assert "For staff: above the auto-approval limit" in html
    assert "Approvable from" in page


def test_the_admin_refuses_an_approval_during_the_cooling_off(trusted, finance, settings):
    settings.WITHDRAWAL_COOLING_OFF_HOURS = COOLING_OFF_HOURS
    withdrawal = withdrawal_request(user=trusted, coins=MIN_COINS)

    page = act(finance, "approve_selected", withdrawal, post="yes")

    assert "Skipped 1" in page and "Cooling off until" in page
    withdrawal.refresh_from_db()
    assert withdrawal.status == "pending"
