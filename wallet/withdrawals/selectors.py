"""Reads about withdrawals."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Sum
from django.db.models.functions import Coalesce

from accounts.models import Report, User
from wallet.withdrawals.models import Withdrawal

# A rejection this recent takes a host out of good standing (no auto-approval).
RECENT_REJECTION_DAYS = 30


def host_standing_concern(*, user: User, now: datetime) -> str | None:
    """Why the host is not trusted for auto-approval, or None when she is in good standing:
    the account is older than WITHDRAWAL_GOOD_STANDING_DAYS, no report against her is open,
    and no withdrawal of hers was rejected lately."""
    days = settings.WITHDRAWAL_GOOD_STANDING_DAYS
    if user.created_at > now - timedelta(days=days):
        return f"The account is younger than {days} days."
    if Report.objects.filter(reported=user, status=Report.Status.OPEN).exists():
        return "A report against the host is open."
    if Withdrawal.objects.filter(
        user=user,
        status=Withdrawal.Status.REJECTED,
        reviewed_at__gte=now - timedelta(days=RECENT_REJECTION_DAYS),
    ).exists():
        return f"A withdrawal of the host's was rejected in the last {RECENT_REJECTION_DAYS} days."
    return None


def coins_auto_approved_since(*, user: User, since: datetime) -> int:
    """The coins of the host's withdrawals that were auto-approved since `since`."""
    total: int = Withdrawal.objects.filter(
        user=user, auto_approved=True, reviewed_at__gte=since
    ).aggregate(total=Coalesce(Sum("coins"), 0))["total"]
    return total
