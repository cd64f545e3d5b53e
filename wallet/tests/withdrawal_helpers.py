"""What the withdrawal tests (test_withdrawals_*) share: the rules they run with, staff, the
system wallets' totals, and the admin's actions."""

from datetime import timedelta
from typing import Any

from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from accounts.models import User
from wallet.ledger.models import Wallet, WalletKind
from wallet.withdrawals.models import Withdrawal

WITHDRAWALS = "/api/v1/withdrawals"
ADMIN = "/admin/wallet/withdrawal/"
# The bounds every withdrawal test runs with (the `withdrawal_rules` fixture, conftest.py).
MIN_COINS, MAX_COINS, AUTO_APPROVE_MAX, AUTO_APPROVE_DAILY_MAX = 100, 10_000, 500, 800
TWO_APPROVALS_ABOVE = 5000


def pin_withdrawal_rules(settings: Any) -> None:
    """Pinned in every withdrawal test, so a developer's .env never changes what they mean."""
    settings.WITHDRAWAL_MIN_COINS = MIN_COINS
    settings.WITHDRAWAL_MAX_COINS = MAX_COINS
    settings.WITHDRAWAL_AUTO_APPROVE_MAX_COINS = AUTO_APPROVE_MAX
    settings.WITHDRAWAL_AUTO_APPROVE_DAILY_MAX_COINS = AUTO_APPROVE_DAILY_MAX
    settings.WITHDRAWAL_TWO_APPROVALS_ABOVE_COINS = TWO_APPROVALS_ABOVE
    # Review at once: the cooling-off has tests of its own (test_withdrawals_auto_review).
    settings.WITHDRAWAL_COOLING_OFF_HOURS = 0
    settings.WITHDRAWAL_GOOD_STANDING_DAYS = 30
    settings.PAYOUT_PROVIDER = "sandbox"


def make_trusted(user: User) -> None:
    """Old enough for auto-approval (nothing else against her)."""
    User.objects.filter(pk=user.pk).update(created_at=timezone.now() - timedelta(days=31))
    user.refresh_from_db()


def make_staff() -> User:
    return User.objects.create_superuser("finance@example.com", "x", name="Fin")


def system_total(kind: WalletKind) -> int:
    """The balance of a system wallet over all its shards."""
    return Wallet.objects.filter(kind=kind).aggregate(total=Sum("balance"))["total"]


def act(client: Client, action: str, *withdrawals: Withdrawal, **extra: str) -> str:
    """Run an admin action on the changelist; returns the page it lands on."""
    response = client.post(
        ADMIN,
        {"action": action, "_selected_action": [w.pk for w in withdrawals], **extra},
        follow=True,
    )
    assert response.status_code == 200
    return response.content.decode()
