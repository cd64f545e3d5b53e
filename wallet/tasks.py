"""Celery tasks of the wallet app: thin, safe to run twice, the work is in the services."""

import logging
from typing import Any

from celery import shared_task

from wallet.reconcile import ledger_check
from wallet.withdrawals import withdrawals_pay_approved

logger = logging.getLogger(__name__)


@shared_task
def withdrawals_process() -> int:
    """Beat, every minute: pay the approved withdrawals. Two runs at once split the work
    (each payout attempt is claimed by one of them); returns how many were paid."""
    return withdrawals_pay_approved()


@shared_task
def ledger_reconcile() -> dict[str, Any]:
    """Beat, daily: prove the ledger balances; a mismatch is logged as an error (alerting)."""
    report = ledger_check()
    (logger.info if report.ok else logger.error)("%s", report.text())
    return report.as_dict()
