"""Celery tasks of the ledger: thin, safe to run twice, the work is in the services."""

import logging
from typing import Any

from celery import shared_task

from wallet.ledger.reconcile import ledger_check

logger = logging.getLogger(__name__)


# The name it had before the ledger got its own package: beat and queued messages use it.
@shared_task(name="wallet.tasks.ledger_reconcile")
def ledger_reconcile() -> dict[str, Any]:
    """Beat, daily: prove the ledger balances; a mismatch is logged as an error (alerting)."""
    report = ledger_check()
    (logger.info if report.ok else logger.error)("%s", report.text())
    return report.as_dict()
