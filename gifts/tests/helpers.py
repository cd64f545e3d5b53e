"""What the gifts tests share: funding, balances, the platform's take, the ledger check."""

from django.db.models import Sum

from accounts.models import User
from gifts.models import Gift
from wallet.ledger.models import Wallet, WalletKind
from wallet.ledger.reconcile import ledger_check
from wallet.ledger.services import wallet_adjust, wallet_ensure

GIFTS = "/api/v1/gifts"
SEND = "/api/v1/gifts/send"


def fund(user: User, coins: int) -> None:
    wallet_adjust(
        user_id=user.pk, amount=coins, idempotency_key=f"fund:{user.pk}:{coins}", reason="test"
    )


def balance(user: User) -> int:
    return Wallet.objects.get(pk=wallet_ensure(user_id=user.pk)).balance


def platform_revenue() -> int:
    """Platform revenue over all its shards."""
    total = Wallet.objects.filter(kind=WalletKind.PLATFORM_REVENUE).aggregate(t=Sum("balance"))
    return total["t"] or 0


def assert_ledger_reconciles() -> None:
    report = ledger_check()
    assert report.ok, report.text()


def make_gift(name: str, cost: int, *, position: int = 0, active: bool = True) -> Gift:
    return Gift.objects.create(
        name=name, icon=name.lower(), cost_coins=cost, position=position, is_active=active
    )
