"""Manual adjustments by staff (docs/staff.md, "Moderation"): coins granted to a user or
taken back, through the ledger (never by editing a balance), with a reason, audited."""

from django.db import transaction

from accounts.models import User
from adminpanel.audit.services import audit_record, reason_clean
from wallet.ledger.services import TransferResult, wallet_adjust, wallet_ensure


def wallet_adjust_by_staff(
    *, user: User, amount: int, reason: str, idempotency_key: str, staff: User | None
) -> TransferResult:
    """Grant `amount` coins to `user` (negative: take them back) for `reason`, once per
    `idempotency_key` (a repeat returns the first adjustment, `replayed`, and writes no second
    audit entry). Taking back more than the balance is InsufficientFunds: nothing moves. The
    audit entry `wallet.adjust` shows the balance before and after."""
    reason = reason_clean(reason, message="An adjustment needs a reason.")
    wallet_id = wallet_ensure(user_id=user.pk)
    with transaction.atomic():
        result = wallet_adjust(
            user_id=user.pk,
            amount=amount,
            idempotency_key=f"staff-adjust:{idempotency_key}",
            reason=reason,
        )
        if not result.replayed:
            after = result.balances[wallet_id]
            audit_record(
                actor=staff,
                action="wallet.adjust",
                target=user,
                before={"balance": after - amount},
                after={"balance": after, "amount": amount},
                reason=reason,
            )
    return result
