"""What the gifts tests share: the platform's take and the ledger check."""

from django.db.models import Sum

from wallet.ledger.models import Wallet, WalletKind
from wallet.ledger.reconcile import ledger_check

GIFTS = "/api/v1/gifts"
SEND = "/api/v1/gifts/send"


def platform_revenue() -> int:
    """Platform revenue over all its shards."""
    total = Wallet.objects.filter(kind=WalletKind.PLATFORM_REVENUE).aggregate(t=Sum("balance"))
    return total["t"] or 0


def assert_ledger_reconciles() -> None:
    report = ledger_check()
    assert report.ok, report.text()
