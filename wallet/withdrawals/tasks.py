"""Celery tasks of withdrawals: thin, safe to run twice, the work is in the services."""

from celery import shared_task

from wallet.withdrawals.services import withdrawals_auto_review, withdrawals_pay_approved


# The name it had before withdrawals got their own package: beat and queued messages use it.
@shared_task(name="wallet.tasks.withdrawals_process")
def withdrawals_process() -> int:
    """Beat, every minute: review the pending withdrawals whose cooling-off is over
    (approve within the limits, or leave for staff), then pay the approved ones. Two runs at
    once split the work (each decision and payout attempt is made by one of them); returns
    how many were paid."""
    withdrawals_auto_review()
    return withdrawals_pay_approved()
