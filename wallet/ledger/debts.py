"""What users owe (docs/payments.md, "Refunds and chargebacks"): the coins of a reversed
purchase that were spent before the reversal came. The debt is a receivable on the system's
receivables wallets (so the books stay balanced and `reconcile_ledger` passes) and the user
wallet's `owed`; while it is above zero the user may not spend or withdraw (403
`account_restricted`). It is settled by the user's next purchases, which pay it first, or
written off by staff with a reason.

Lock order: a debt changes under the user's wallet lock, taken with every other wallet the
database transaction will move, in primary-key order, before any of them moves
(`wallets_lock`): system shards (ids below 1000) come before user wallets, as in
`wallet_transfer`, so no two transactions wait on each other."""

import secrets

from django.db import transaction
from django.db.models import F

from accounts.models import User
from adminpanel.audit.services import audit_record, reason_clean
from videochat.errors import AccountRestricted
from wallet.ledger.models import EntryType, TransactionKind, Wallet, WalletKind
from wallet.ledger.services import Leg, system_wallet_id, wallet_ensure, wallet_transfer


def receivables_wallet_id(*, user_id: int) -> int:
    """The receivables shard that holds `user_id`'s debt: one per user, so every change of
    one debt touches the same rows."""
    return system_wallet_id(kind=WalletKind.RECEIVABLES, key=f"user:{user_id}")


def wallets_lock(wallet_ids: set[int]) -> dict[int, Wallet]:
    """Lock the wallets (primary-key order) for the rest of the transaction; by id."""
    locked = Wallet.objects.select_for_update().filter(pk__in=wallet_ids).order_by("pk")
    return {wallet.pk: wallet for wallet in locked}


def account_restriction_check(*, wallet: Wallet) -> None:
    """Raise AccountRestricted while the wallet's user owes coins of a reversed purchase."""
    owed = wallet.owed
    if owed:
        raise AccountRestricted(
            "A refunded or charged-back purchase left coins unpaid: buy coins to settle them "
            "before spending or withdrawing.",
            details={"owed": owed},
        )


def debt_add(*, wallet_id: int, coins: int) -> None:
    """The user of the (locked) wallet owes `coins` more."""
    Wallet.objects.filter(pk=wallet_id).update(owed=F("owed") + coins)


def debt_settle_from_purchase(*, user_id: int, wallet: Wallet, coins: int, key: str) -> int:
    """A purchase of `coins` was just credited to the locked `wallet` (its `owed` current):
    what the user owes is paid from it first, as a `purchase_reversal` entry of its own (so
    the history shows the whole purchase, then what settled the debt). Returns the coins
    paid. The caller locked the user's receivables shard with the wallet."""
    paid = min(wallet.owed, coins)
    if paid <= 0:
        return 0
    wallet_transfer(
        kind=TransactionKind.DEBT_SETTLEMENT,
        idempotency_key=f"{key}:settles-debt",
        reference=key,
        metadata={"owed_before": wallet.owed, "paid": paid},
        legs=[
            Leg(wallet.pk, -paid, EntryType.PURCHASE_REVERSAL),
            Leg(receivables_wallet_id(user_id=user_id), paid, EntryType.RECEIVABLE),
        ],
    )
    Wallet.objects.filter(pk=wallet.pk).update(owed=F("owed") - paid)
    return paid


def debt_write_off(*, user: User, reason: str, by: User) -> int:
    """Staff forgive what `user` owes, for `reason`: the receivable is closed against the
    staff adjustments wallet (the platform takes the loss), the restriction lifts, and the
    audit entry `wallet.debt_write_off` says who and why. Returns the coins written off (0
    when the user owed nothing: nothing is written)."""
    reason = reason_clean(reason, message="A write-off needs a reason.")
    wallet_id = wallet_ensure(user_id=user.pk)
    receivables = receivables_wallet_id(user_id=user.pk)
    with transaction.atomic():
        adjustments = system_wallet_id(kind=WalletKind.ADJUSTMENTS, key=f"debt:user:{user.pk}")
        wallet = wallets_lock({wallet_id, receivables, adjustments})[wallet_id]
        owed = wallet.owed
        # Under the lock: a double-submitted form finds nothing left to write off.
        if owed <= 0:
            return 0
        wallet_transfer(
            kind=TransactionKind.DEBT_SETTLEMENT,
            idempotency_key=f"debt:user:{user.pk}:write-off:{secrets.token_hex(8)}",
            reference=f"user:{user.pk}",
            metadata={"write_off": True, "reason": reason},
            legs=[
                Leg(receivables, owed, EntryType.RECEIVABLE),
                Leg(adjustments, -owed, EntryType.ADJUSTMENT),
            ],
        )
        Wallet.objects.filter(pk=wallet_id).update(owed=0)
        audit_record(
            actor=by,
            action="wallet.debt_write_off",
            target=user,
            before={"owed": owed},
            after={"owed": 0},
            reason=reason,
        )
    return owed
