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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from videochat.errors import (
    ApplicationError,
    IdempotencyMismatch,
    InsufficientFunds,
    ValidationFailed,
)
from videochat.gateway.notify import notify_many
from wallet.ledger.models import (
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


def wallet_of_user(*, user_id: int) -> Wallet:
    """The user's wallet row, created on first need (a service, not a selector: reading it
    may insert it, for users made outside registration)."""
    return Wallet.objects.get(pk=wallet_ensure(user_id=user_id))


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


def reference_id_reserve(*, model: type[models.Model]) -> int:
    """The id that a new row of `model` will be inserted with, drawn from its sequence now:
    for rows whose ledger transaction is written first (the row points to it) and names the
    row in its reference (`gift:<id>`, `withdrawal:<id>`)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [model._meta.db_table])
        (reserved,) = cursor.fetchone()
    return int(reserved)


def _fingerprint(kind: str, reference: str, legs: Sequence[Leg], metadata: dict[str, Any]) -> str:
    content = {
        "kind": kind,
        "reference": reference,
        "legs": sorted((leg.wallet_id, leg.amount, str(leg.type)) for leg in legs),
        "metadata": metadata,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def spend_legs(
    *,
    payer: int,
    earner: int,
    amount: int,
    earner_percent: int,
    key: str,
    payer_type: EntryType,
    earner_type: EntryType,
) -> list[Leg]:
    """The legs of a spend on a host (a call period, a gift): `payer` pays `amount`, `earner`
    gets `earner_percent` of it rounded down, platform revenue (the shard `key` picks) the
    rest. A 0 % or 100 % share leaves one side nothing: a leg moves coins or is not there."""
    share = amount * earner_percent // 100
    legs = [
        Leg(payer, -amount, payer_type),
        Leg(earner, share, earner_type),
        Leg(
            system_wallet_id(kind=WalletKind.PLATFORM_REVENUE, key=key),
            amount - share,
            EntryType.PLATFORM_FEE,
        ),
    ]
    return [leg for leg in legs if leg.amount]


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


@dataclass(frozen=True)
class TransferRequest:
    """The arguments of one wallet_transfer, as an item of wallet_transfer_batch."""

    kind: TransactionKind
    idempotency_key: str
    legs: Sequence[Leg]
    reference: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChainResult:
    """What became of one chain of wallet_transfer_batch."""

    # How many of the chain's transfers are done, from its start: moved now, or moved
    # earlier under the same key (a replay, which moves nothing now).
    done: int
    # The balance each wallet touched by a done transfer had right after the last of them.
    balances: dict[int, int]
    # Why the transfer after the done ones was refused (InsufficientFunds or
    # IdempotencyMismatch); None when the whole chain is done.
    refusal: ApplicationError | None = None


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
    must not have locked wallet rows itself: the pk-order rule covers only this function.
    A batch of one: wallet_transfer_batch's core makes it."""
    request = TransferRequest(kind, idempotency_key, legs, reference, metadata or {})
    with transaction.atomic():
        batch = _transfers_make([[request]])
        (result,) = batch.results
        if result.refusal is not None:
            # Raised inside the block: rolling back the savepoint frees the key and the
            # wallet rows at once, as if nothing had been tried.
            raise result.refusal
    _balances_push(batch)
    earlier = batch.earlier.get(idempotency_key)
    if earlier is not None:
        return TransferResult(transaction=earlier[0], balances=result.balances, replayed=True)
    txn = Transaction(
        id=batch.claimed[idempotency_key],
        kind=kind,
        idempotency_key=idempotency_key,
        fingerprint=batch.fingerprints[idempotency_key],
        reference=reference,
        metadata=request.metadata,
        created_at=batch.now,
    )
    return TransferResult(transaction=txn, balances=result.balances, replayed=False)


def wallet_transfer_batch(*, chains: Sequence[Sequence[TransferRequest]]) -> list[ChainResult]:
    """Many wallet_transfers as one database transaction: a few statements for the whole
    batch instead of a few per transfer, for work that charges thousands of parties at once
    (the billing tick). The outcome is that of calling wallet_transfer for every request one
    after the other, chain by chain, except that a refused transfer is reported instead of
    raised, and stops its chain: the requests after it in the chain are not made (a chain is
    "these in this order, none after a refused one"); other chains go on. A refused transfer
    moves nothing and leaves its key unused.

    Every guarantee of wallet_transfer holds: keys claimed first (in key order, so batches
    sharing keys queue instead of deadlocking), wallet rows locked in primary-key order, no
    user balance below zero, entries summing to zero per transaction, balance_after exact
    when a wallet is in several transfers of the batch. Each user wallet's final balance is
    pushed once, after commit. Runs in the caller's transaction when there is one, which must
    not have locked wallet rows itself."""
    with transaction.atomic():
        batch = _transfers_make(chains)
    _balances_push(batch)
    return batch.results


# An earlier transaction under a key: the Transaction, and the balances its entries left.
_Earlier = tuple[Transaction, dict[int, int]]


@dataclass(frozen=True)
class _Batch:
    """What _transfers_make did, for the public functions to report and push."""

    results: list[ChainResult]
    now: datetime
    fingerprints: dict[str, str]
    # Key -> id of the Transaction row inserted for it (refused ones' rows are gone again).
    claimed: dict[str, int]
    # Key -> its earlier transaction, for keys used before this batch.
    earlier: dict[str, _Earlier]
    # Owner id -> the final balance of each user wallet that changed.
    balances_changed: dict[int, int]


def _transfers_make(chains: Sequence[Sequence[TransferRequest]]) -> _Batch:
    """The core of every transfer, inside the caller's atomic block: claim the keys (in key
    order), read the transfers made earlier under keys already used, lock the wallets in
    primary-key order, apply each chain on the running balances, then write everything in
    a few statements."""
    requests = [request for chain in chains for request in chain]
    for request in requests:
        _check_legs(request.legs)
    keys = [request.idempotency_key for request in requests]
    if len(set(keys)) != len(keys):
        raise ValueError("An idempotency key appears once per batch")
    fingerprints = {
        r.idempotency_key: _fingerprint(r.kind, r.reference, r.legs, r.metadata) for r in requests
    }
    now = timezone.now()
    new_ids = _claim_keys(requests, fingerprints, now)
    earlier = _earlier_transfers([key for key in keys if key not in new_ids])
    locked = _lock_wallets(
        {leg.wallet_id for r in requests if r.idempotency_key in new_ids for leg in r.legs}
    )
    running = {wallet_id: balance for wallet_id, (_, balance, _) in locked.items()}
    entries: list[tuple[int, int, str, int, int]] = []
    unused: list[int] = []
    results: list[ChainResult] = []
    for chain in chains:
        done, balances = 0, {}
        refusal: ApplicationError | None = None
        for request in chain:
            key = request.idempotency_key
            if refusal is None:
                if key in new_ids:
                    refusal = _apply(request, new_ids[key], locked, running, entries)
                else:
                    refusal = _check_earlier(key, fingerprints[key], earlier)
            if refusal is not None:
                if key in new_ids:
                    unused.append(new_ids[key])
                continue
            done += 1
            balances.update(
                {leg.wallet_id: running[leg.wallet_id] for leg in request.legs}
                if key in new_ids
                else earlier[key][1]
            )
        results.append(ChainResult(done=done, balances=balances, refusal=refusal))
    _write_batch(entries, unused, running, now)
    changed = {entry[1] for entry in entries}
    return _Batch(
        results=results,
        now=now,
        fingerprints=fingerprints,
        claimed=new_ids,
        earlier=earlier,
        balances_changed={
            owner: running[wallet_id]
            for wallet_id, (_, _, owner) in sorted(locked.items())
            if owner is not None and wallet_id in changed
        },
    )


def _balances_push(batch: _Batch) -> None:
    """One `wallet:balance` push per user wallet the batch changed, in one Redis pipeline;
    called after commit."""
    notify_many(
        (owner, "wallet:balance", {"balance": balance})
        for owner, balance in batch.balances_changed.items()
    )


def _claim_keys(
    requests: Sequence[TransferRequest], fingerprints: dict[str, str], now: datetime
) -> dict[str, int]:
    """Insert the Transaction rows, first thing: key -> id of each row inserted now; keys
    used before are left out (their first transaction stands)."""
    ordered = sorted(requests, key=lambda r: r.idempotency_key)
    rows = [
        {
            "kind": r.kind,
            "key": r.idempotency_key,
            "fingerprint": fingerprints[r.idempotency_key],
            "reference": r.reference,
            "metadata": r.metadata,
        }
        for r in ordered
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO wallet_transaction"
            " (kind, idempotency_key, fingerprint, reference, metadata, created_at)"
            " SELECT v.kind, v.key, v.fingerprint, v.reference, v.metadata, %s"
            " FROM ROWS FROM (jsonb_to_recordset(%s::jsonb) AS (kind text, key text,"
            " fingerprint text, reference text, metadata jsonb))"
            " WITH ORDINALITY AS v(kind, key, fingerprint, reference, metadata, position)"
            " ORDER BY v.position"
            " ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key, id",
            [now, json.dumps(rows)],
        )
        return dict(cursor.fetchall())


def _earlier_transfers(keys: list[str]) -> dict[str, _Earlier]:
    """Key -> (transaction, the balances it left) of keys used before."""
    if not keys:
        return {}
    found: dict[str, _Earlier] = {
        txn.idempotency_key: (txn, {})
        for txn in Transaction.objects.filter(idempotency_key__in=keys)
    }
    for key, wallet_id, balance_after in Entry.objects.filter(
        transaction__idempotency_key__in=keys
    ).values_list("transaction__idempotency_key", "wallet_id", "balance_after"):
        found[key][1][wallet_id] = balance_after
    return found


def _check_earlier(
    key: str, fingerprint: str, earlier: dict[str, _Earlier]
) -> IdempotencyMismatch | None:
    if earlier[key][0].fingerprint == fingerprint:
        return None
    return IdempotencyMismatch(
        "This idempotency key was used for a different request.",
        details={"idempotency_key": key},
    )


def _lock_wallets(wallet_ids: set[int]) -> dict[int, tuple[str, int, int | None]]:
    """Wallet id -> (kind, balance, owner id), every row locked, in primary-key order."""
    if not wallet_ids:
        return {}
    # select_for_update() written out: the ORM spent ~0.35 ms more CPU per transfer building
    # this one statement, a third of the service's own CPU (docs/wallet.md, Benchmark).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, kind, balance, owner_id FROM wallet_wallet"
            " WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
            [sorted(wallet_ids)],
        )
        locked = {row[0]: (row[1], row[2], row[3]) for row in cursor.fetchall()}
    if len(locked) != len(wallet_ids):
        raise ValueError(f"Unknown wallets {sorted(wallet_ids - locked.keys())}")
    return locked


def _apply(
    request: TransferRequest,
    txn_id: int,
    locked: dict[int, tuple[str, int, int | None]],
    running: dict[int, int],
    entries: list[tuple[int, int, str, int, int]],
) -> InsufficientFunds | None:
    """Move the request's legs on the running balances and note its entries, or say why
    not (then nothing moved)."""
    after: dict[int, int] = {}
    for leg in request.legs:
        balance = running[leg.wallet_id]
        if balance + leg.amount < 0 and locked[leg.wallet_id][0] not in ISSUING_KINDS:
            return InsufficientFunds(
                "Not enough coins.", details={"balance": balance, "needed": -leg.amount}
            )
        after[leg.wallet_id] = balance + leg.amount
    running.update(after)
    entries.extend(
        (txn_id, leg.wallet_id, str(leg.type), leg.amount, after[leg.wallet_id])
        for leg in request.legs
    )
    return None


_ENTRY_COLUMNS = ("transaction_id", "wallet_id", "type", "amount", "balance_after")


def _write_batch(
    entries: list[tuple[int, int, str, int, int]],
    unused: list[int],
    running: dict[int, int],
    now: datetime,
) -> None:
    """Three statements for the whole batch: drop the rows of refused transfers (which
    frees their keys), set the new balances, insert the entries in the order they were
    made (so a wallet's latest entry has its highest id, as reconciliation expects)."""
    # Rows travel as one JSON document (here and in _claim_keys), not as an array per
    # column: cheaper for psycopg to bind and for PostgreSQL to read, measured for one
    # transfer (~0.05 ms less per statement) and for thousands (~20 % less).
    changed = sorted({wallet_id for _, wallet_id, _, _, _ in entries})
    with connection.cursor() as cursor:
        if unused:
            cursor.execute("DELETE FROM wallet_transaction WHERE id = ANY(%s)", [unused])
        if not entries:
            return
        cursor.execute(
            "UPDATE wallet_wallet AS w SET balance = v.balance, updated_at = %s"
            " FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, balance) WHERE w.id = v.id",
            [now, changed, [running[wallet_id] for wallet_id in changed]],
        )
        cursor.execute(
            "INSERT INTO wallet_entry"
            " (transaction_id, wallet_id, type, amount, balance_after, created_at)"
            " SELECT v.transaction_id, v.wallet_id, v.type, v.amount, v.balance_after, %s"
            " FROM ROWS FROM (jsonb_to_recordset(%s::jsonb) AS (transaction_id bigint,"
            " wallet_id bigint, type text, amount bigint, balance_after bigint))"
            " WITH ORDINALITY AS v(transaction_id, wallet_id, type, amount, balance_after,"
            " position) ORDER BY v.position",
            [now, json.dumps([dict(zip(_ENTRY_COLUMNS, entry, strict=True)) for entry in entries])],
        )


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
