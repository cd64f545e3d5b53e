"""Shapes of the withdrawals API (API.md, Wallet): what comes in and what goes out."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from wallet.withdrawals.models import Withdrawal

# --- In ------------------------------------------------------------------------------------


class CoinsField(serializers.IntegerField):
    """Whole coins as a JSON integer. Plain IntegerField also reads "1000" and 1000.0;
    amounts of money come as integers or not at all."""

    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class WithdrawalCreateSerializer(serializers.Serializer[dict[str, Any]]):
    coins = CoinsField(
        help_text="Whole coins to cash out, within the server's minimum and maximum."
    )


# --- Out -----------------------------------------------------------------------------------


# A component of its own: other models' `status` enums would collide with a plain one.
@extend_schema_field(
    {"type": "string", "enum": Withdrawal.Status.values}, component_name="WithdrawalStatusEnum"
)
class WithdrawalStatusField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=Withdrawal.Status.choices, **kwargs)


class WithdrawalSerializer(serializers.ModelSerializer[Withdrawal]):
    """A withdrawal as its host sees it."""

    status = WithdrawalStatusField(
        read_only=True,
        help_text="`pending` -> `approved` -> `paid`, or `pending` -> `rejected` (the coins "
        "come back as a `withdrawal_refund`), or `approved` -> `failed` (the payout could not "
        "be made, or the payment provider sent the money back) -> `refunded` (the coins come "
        "back as a `withdrawal_refund`); staff may also send a `failed` one back to "
        "`approved`. A `paid` one becomes `refunded` when the provider returns its money.",
    )
    reviewed_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When it was approved (by staff or automatically) or rejected.",
    )
    paid_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When the payout went out."
    )
    rejection_reason = serializers.CharField(
        read_only=True, help_text="Why staff rejected it; empty unless `rejected`."
    )
    failed_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When the payout gave up (`failed`, or `refunded` after failing).",
    )
    refunded_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When the coins of a failed payout came back (staff, or the provider).",
    )
    refund_reason = serializers.CharField(
        read_only=True, help_text="Why the coins came back; empty unless `refunded`."
    )
    amount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        read_only=True,
        allow_null=True,
        help_text='The money the coins pay, a decimal string (e.g. "5.00"), fixed when '
        "approved; null before.",
    )
    currency = serializers.CharField(
        read_only=True, help_text="ISO 4217 code of `amount`; empty before approval."
    )

    class Meta:
        model = Withdrawal
        fields = [
            "id",
            "coins",
            "status",
            "created_at",
            "reviewed_at",
            "paid_at",
            "rejection_reason",
            "failed_at",
            "refunded_at",
            "refund_reason",
            "amount",
            "currency",
        ]
        read_only_fields = fields
