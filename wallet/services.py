"""Every movement of coins. `wallet_transfer` is the one primitive; purchases, calls, gifts
and withdrawals all call it and none touches a balance itself.

Why this holds under load:
- Wallet rows are locked with SELECT ... FOR UPDATE in primary-key order, so two transfers
  touching the same wallets queue instead of deadlocking (A->B and B->A included).
- A user wallet never goes below zero: checked here under the lock, and again by the
  database's CHECK constraint.
- The idempotency key is claimed by inserting the Transaction row first (ON CONFLICT DO
  NOTHING). A concurrent attempt with the same key waits on the unique index and then finds
  the first one's row, so the same operation moves coins once, however often it is sent.
- System wallets (platform revenue, clearing, holds) are sharded (SYSTEM_WALLET_SHARDS rows
  each): every call charge credits platform revenue, and one row would serialise them all.
  A user wallet is one row, locked only by transfers that touch that user, for the few
  statements of one short transaction; a popular host queues only her own credits.
"""

import hashlib
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from videochat.errors import IdempotencyMismatch, InsufficientFunds, ValidationFailed
from videochat.gateway.notify import notify
from wallet.models import (
    ISSUING_KINDS,
    SYSTEM_KINDS,
    SYSTEM_WALLET_SHARDS,
    Entry,
    EntryType,
    Transaction,
    TransactionKind,
    Wallet,
    WalletKind,
    system_wallet_pk,
)


@dataclass(frozen=True)
class Leg:
    """One wallet's side of a transfer: `amount` is signed (negative leaves the wallet)."""

    wallet_id: int
    amount: int
    type: EntryType


@dataclass(frozen=True)
class TransferResult:
    transaction: Transaction
    # The balance each touched wallet had right after this transaction.
    balances: dict[int, int]
    # True when the idempotency key had been used: nothing moved this time.
    replayed: bool


def wallet_ensure(*, user_id: int) -> int:
    """The id of the user's wallet, created if the user has none yet. Registration creates
    it; this also covers users made elsewhere (admin, shell)."""
    wallet_id = Wallet.objects.filter(owner_id=user_id).values_list("id", flat=True).first()
    if wallet_id is not None:
        return wallet_id
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO wallet_wallet (kind, owner_id, shard, balance, updated_at)"
            " VALUES (%s, %s, 0, 0, now()) ON CONFLICT (owner_id) DO NOTHING",
            [WalletKind.USER, user_id],
        )
    return Wallet.objects.filter(owner_id=user_id).values_list("id", flat=True).get()


def system_wallet_id(*, kind: WalletKind, key: str) -> int:
    """The shard of a system wallet that the operation with idempotency `key` uses: the same
    key always maps to the same shard, so a retried transfer is recognised as a replay."""
    return system_wallet_pk(kind, zlib.crc32(key.encode()) % SYSTEM_WALLET_SHARDS)


def wallet_system_ensure() -> None:
    """Create the system wallets that are missing (the migration does; so do tests that
    empty the tables)."""
    rows = [
        (system_wallet_pk(kind, shard), kind, shard)
        for kind in SYSTEM_KINDS
        for shard in range(SYSTEM_WALLET_SHARDS)
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO wallet_wallet (id, kind, owner_id, shard, balance, updated_at)"
            " SELECT id, kind, NULL, shard, 0, now()"
            " FROM unnest(%s::bigint[], %s::text[], %s::int[]) AS v(id, kind, shard)"
            " ON CONFLICT (id) DO NOTHING",
            [list(column) for column in zip(*rows, strict=True)],
        )


def _fingerprint(kind: str, reference: str, legs: Sequence[Leg], metadata: dict[str, Any]) -> str:
    content = {
        "kind": kind,
        "reference": reference,
        "legs": sorted((leg.wallet_id, leg.amount, str(leg.type)) for leg in legs),
        "metadata": metadata,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _check_legs(legs: Sequence[Leg]) -> None:
    if len(legs) < 2:
        raise ValueError("A transfer needs at least two legs")
    if any(not isinstance(leg.amount, int) or isinstance(leg.amount, bool) for leg in legs):
        raise TypeError("Coin amounts are integers")
    if any(leg.amount == 0 for leg in legs):
        raise ValueError("A leg moves coins: zero is not an amount")
    if len({leg.wallet_id for leg in legs}) != len(legs):
        raise ValueError("A wallet appears once per transfer")
    if sum(leg.amount for leg in legs) != 0:
        raise ValueError("The legs of a transfer sum to zero")


def wallet_transfer(
    *,
    kind: TransactionKind,
    idempotency_key: str,
    legs: Sequence[Leg],
    reference: str = "",
    metadata: dict[str, Any] | None = None,
) -> TransferResult:
    """Move coins between wallets as one double-entry transaction, exactly once per
    `idempotency_key`. Raises InsufficientFunds (nothing moves) when a wallet other than
    payment clearing would go below zero, and IdempotencyMismatch when the key was used for
    a different movement. May run inside the caller's transaction (a savepoint then), which
    must not have locked wallet rows itself: the pk-order rule covers only this function."""
    _check_legs(legs)
    metadata = metadata or {}
    fingerprint = _fingerprint(kind, reference, legs, metadata)
    with transaction.atomic():
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO wallet_transaction"
                " (kind, idempotency_key, fingerprint, reference, metadata, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
                [kind, idempotency_key, fingerprint, reference, json.dumps(metadata), now],
            )
            inserted = cursor.fetchone()
        if inserted is None:
            return _replay(idempotency_key, fingerprint)
        txn = Transaction(
            id=inserted[0],
            kind=kind,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            reference=reference,
            metadata=metadata,
            created_at=now,
        )
        wallet_ids = sorted(leg.wallet_id for leg in legs)
        locked = {
            wallet_id: (wallet_kind, balance, owner_id)
            for wallet_id, wallet_kind, balance, owner_id in Wallet.objects.select_for_update()
            .filter(id__in=wallet_ids)
            .order_by("id")
            .values_list("id", "kind", "balance", "owner_id")
        }
        if len(locked) != len(wallet_ids):
            raise ValueError(f"Unknown wallet in {wallet_ids}")
        balances: dict[int, int] = {}
        for leg in legs:
            wallet_kind, balance, _ = locked[leg.wallet_id]
            after = balance + leg.amount
            if after < 0 and wallet_kind not in ISSUING_KINDS:
                raise InsufficientFunds(
                    "Not enough coins.",
                    details={"balance": balance, "needed": -leg.amount},
                )
            balances[leg.wallet_id] = after
        _write(txn.pk, legs, balances, now)
    for wallet_id, balance in balances.items():
        owner_id = locked[wallet_id][2]
        if owner_id is not None:
            notify(owner_id, "wallet:balance", {"balance": balance})
    return TransferResult(transaction=txn, balances=balances, replayed=False)


def _write(txn_id: int, legs: Sequence[Leg], balances: dict[int, int], now: Any) -> None:
    """The new balances and the entries: two statements whatever the number of legs."""
    wallet_ids = [leg.wallet_id for leg in legs]
    after = [balances[leg.wallet_id] for leg in legs]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE wallet_wallet AS w SET balance = v.balance, updated_at = %s"
            " FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, balance) WHERE w.id = v.id",
            [now, wallet_ids, after],
        )
        cursor.execute(
            "INSERT INTO wallet_entry"
            " (transaction_id, wallet_id, type, amount, balance_after, created_at)"
            " SELECT %s, v.wallet_id, v.type, v.amount, v.balance_after, %s"
            " FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::bigint[])"
            " AS v(wallet_id, type, amount, balance_after)",
            [
                txn_id,
                now,
                wallet_ids,
                [str(leg.type) for leg in legs],
                [leg.amount for leg in legs],
                after,
            ],
        )


def _replay(idempotency_key: str, fingerprint: str) -> TransferResult:
    txn = Transaction.objects.get(idempotency_key=idempotency_key)
    if txn.fingerprint != fingerprint:
        raise IdempotencyMismatch(
            "This idempotency key was used for a different request.",
            details={"idempotency_key": idempotency_key},
        )
    balances = dict(Entry.objects.filter(transaction=txn).values_list("wallet_id", "balance_after"))
    return TransferResult(transaction=txn, balances=balances, replayed=True)


def wallet_adjust(
    *, user_id: int, amount: int, idempotency_key: str, reason: str
) -> TransferResult:
    """Coins granted to (or taken back from) a user by staff, against the adjustments
    wallet. Taking back more than the user has is InsufficientFunds."""
    if amount == 0:
        raise ValidationFailed("An adjustment moves coins.", details={"amount": ["Not zero."]})
    user_wallet = wallet_ensure(user_id=user_id)
    source = system_wallet_id(kind=WalletKind.ADJUSTMENTS, key=idempotency_key)
    return wallet_transfer(
        kind=TransactionKind.ADJUSTMENT,
        idempotency_key=idempotency_key,
        reference=f"user:{user_id}",
        metadata={"reason": reason},
        legs=[
            Leg(user_wallet, amount, EntryType.ADJUSTMENT),
            Leg(source, -amount, EntryType.ADJUSTMENT),
        ],
    )
