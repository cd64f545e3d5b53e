"""The withdrawal payload of `withdrawal:update` (wallet/withdrawals/payloads.py) is what
WithdrawalSerializer documents, as a client reads it, in every state a withdrawal reaches."""

from datetime import UTC, datetime

import pytest

from tests.payloads import as_pushed, as_rendered
from wallet.withdrawals.models import Withdrawal
from wallet.withdrawals.payloads import withdrawal_data
from wallet.withdrawals.serializers import WithdrawalSerializer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("withdrawal_rules")]

MOMENT = datetime(2026, 1, 2, 3, 4, 5, 250000, tzinfo=UTC)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"status": Withdrawal.Status.APPROVED, "reviewed_at": MOMENT},
        {"status": Withdrawal.Status.PAID, "reviewed_at": MOMENT, "paid_at": MOMENT},
        {"status": Withdrawal.Status.REJECTED, "reviewed_at": MOMENT, "rejection_reason": "No"},
        {
            "status": Withdrawal.Status.REFUNDED,
            "reviewed_at": MOMENT,
            "failed_at": MOMENT,
            "refunded_at": MOMENT,
            "refund_reason": "Account closed",
        },
    ],
    ids=["pending", "approved", "paid", "rejected", "refunded"],
)
def test_withdrawal_data_is_the_documented_withdrawal(
    pending: Withdrawal, fields: dict[str, object]
) -> None:
    for name, value in fields.items():
        setattr(pending, name, value)
    assert as_pushed(withdrawal_data(pending)) == as_rendered(WithdrawalSerializer(pending).data)
