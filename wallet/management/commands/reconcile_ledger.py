"""manage.py reconcile_ledger: prove the ledger balances (also run daily by Celery beat).
Exits non-zero, naming the bad wallets and transactions, when it does not."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from wallet.ledger.reconcile import ledger_check


class Command(BaseCommand):
    help = (
        "Check that every wallet's balance equals the sum of its entries, that every"
        " transaction's entries sum to zero and that the whole ledger sums to zero."
        " Read-only; safe to run on a live database."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = ledger_check()
        self.stdout.write(report.text())
        if not report.ok:
            raise CommandError("The ledger does not reconcile (details above).")
