"""The wallet app's Celery tasks live in its rooms; Celery autodiscovers `wallet.tasks` only,
so importing them here registers them (under the names beat and the queues know)."""

from wallet.ledger.tasks import ledger_reconcile
from wallet.withdrawals.tasks import withdrawals_process

__all__ = ["ledger_reconcile", "withdrawals_process"]
