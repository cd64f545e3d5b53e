"""The withdrawal object that `withdrawal:update` carries, built by hand like the other
pushes' payloads; it equals WithdrawalSerializer, which documents it
(wallet/tests/test_withdrawals_payloads.py)."""

from typing import Any

from videochat.timestamps import iso_timestamp
from wallet.withdrawals.models import Withdrawal


def withdrawal_data(withdrawal: Withdrawal) -> dict[str, Any]:
    """A withdrawal as its host sees it (API.md, Wallet)."""
    return {
        "id": withdrawal.pk,
        "coins": withdrawal.coins,
        "status": withdrawal.status,
        "created_at": iso_timestamp(withdrawal.created_at),
        "reviewed_at": iso_timestamp(withdrawal.reviewed_at),
        "paid_at": iso_timestamp(withdrawal.paid_at),
        "rejection_reason": withdrawal.rejection_reason,
        "failed_at": iso_timestamp(withdrawal.failed_at),
        "refunded_at": iso_timestamp(withdrawal.refunded_at),
        "refund_reason": withdrawal.refund_reason,
        # A decimal string with two places, as the serializer renders it.
        "amount": None if withdrawal.amount is None else f"{withdrawal.amount:.2f}",
        "currency": withdrawal.currency,
    }
