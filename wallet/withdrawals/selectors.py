"""Reads about withdrawals."""

from datetime import datetime, timedelta

from django.conf import settings

from accounts.models import Report, User
from wallet.withdrawals.models import Withdrawal

# A rejection this recent takes a host out of good standing (no auto-approval).
RECENT_REJECTION_DAYS = 30


def host_in_good_standing(*, user: User, now: datetime) -> bool:
    """Trusted for auto-approval: the account is older than WITHDRAWAL_GOOD_STANDING_DAYS,
    no report against her is open, and no withdrawal of hers was rejected lately."""
    if user.created_at > now - timedelta(days=settings.WITHDRAWAL_GOOD_STANDING_DAYS):
        return False
    if Report.objects.filter(reported=user, status=Report.Status.OPEN).exists():
        return False
    return not Withdrawal.objects.filter(
        user=user,
        status=Withdrawal.Status.REJECTED,
        reviewed_at__gte=now - timedelta(days=RECENT_REJECTION_DAYS),
    ).exists()
