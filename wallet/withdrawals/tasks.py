"""Celery tasks of withdrawals: thin, safe to run twice, the work is in the services."""

from celery import shared_task

from wallet.withdrawals.services import withdrawals_pay_approved


# The name it had before withdrawals got their own package: beat and queued messages use it.
@shared_task(name="wallet.tasks.withdrawals_process")
def withdrawals_process() -> int:
    """Beat, every minute: pay the approved withdrawals. Two runs at once split the work
    (each payout attempt is claimed by one of them); returns how many were paid."""
    return withdrawals_pay_approved()
