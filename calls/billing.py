"""Per-period billing of active calls (API.md, Calls; docs/billing.md).

A call is billed in periods of `billing_period_seconds` (a "minute"): period n starts at
`started_at + (n - 1) * period` and is paid when it starts. Accept pays period 1
(`call_charge_period`); the beat task `calls_billing_tick` pays the later ones
(`billing_tick`). A period is one ledger transfer, key `call:<id>:minute:<n>`: the caller
pays the call's rate, the host gets `floor(rate * host_share_percent / 100)` and a platform
revenue shard the rest.

Exactly once, never skipped, whatever runs at the same time or dies half way:
- A period is charged only under the call's row lock and only if it is the next one
  (`periods_charged + 1`), in the same database transaction that moves the coins and
  advances `periods_charged`: it commits whole or not at all.
- The tick claims due calls with SELECT ... FOR NO KEY UPDATE SKIP LOCKED, so concurrent
  ticks split the calls instead of both billing one; the idempotency key backs this up in
  the ledger. NO KEY UPDATE (what an UPDATE that keeps the row's key takes anyway), not FOR
  UPDATE: a gift sent in the call takes a KEY SHARE lock on the call row at commit (its
  foreign key) while it holds the wallets the tick locks next, and FOR UPDATE would make
  the two wait for each other.
- A worker killed mid-tick loses only its uncommitted batch, which the next tick redoes.
"""

import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from calls.models import Call, CallStatus, EndReason
from videochat.errors import InsufficientFunds
from videochat.gateway.notify import notify, notify_many
from wallet.models import EntryType, TransactionKind, Wallet
from wallet.services import (
    TransferRequest,
    spend_legs,
    wallet_ensure,
    wallet_transfer,
    wallet_transfer_batch,
)

logger = logging.getLogger(__name__)

# Calls per database transaction of a tick. Bigger batches cost fewer round trips; smaller
# ones hold their wallet and call row locks for less time (what a hang-up or a gift touching
# the same rows waits for). 500 bills one batch in tens of milliseconds (docs/billing.md).
BATCH_SIZE = 500


@dataclass(frozen=True)
class TickReport:
    # Due calls the tick billed (claimed), periods charged, calls cut off for want of coins,
    # low-balance warnings sent, database transactions, and wall-clock seconds.
    calls: int
    charged: int
    cut_off: int
    warned: int
    batches: int
    elapsed: float


class _DueCall(NamedTuple):
    id: int
    caller_id: int
    callee_id: int
    rate: int
    host_share_percent: int
    period_seconds: int
    started_at: datetime
    periods_charged: int
    next_charge_at: datetime
    warned_period: int
    # Read with the call, to save a query per batch; None for a user who has no wallet yet.
    caller_wallet: int | None
    host_wallet: int | None


def period_transfer(
    *, call_id: int, period: int, rate: int, host_share_percent: int, caller: int, host: int
) -> TransferRequest:
    """The ledger transfer paying period `period` of a call (`caller` and `host` are wallet
    ids). Both billing paths build it here, so a retry through either is the same request."""
    key = f"call:{call_id}:minute:{period}"
    return TransferRequest(
        kind=TransactionKind.CALL_CHARGE,
        idempotency_key=key,
        legs=spend_legs(
            payer=caller,
            earner=host,
            amount=rate,
            earner_percent=host_share_percent,
            key=key,
            payer_type=EntryType.CALL_CHARGE,
            earner_type=EntryType.CALL_EARNING,
        ),
        reference=f"call:{call_id}",
        metadata={"call_id": call_id, "period": period},
    )


def call_charge_period(*, call_id: int, period: int) -> None:
    """Charge period `period` of an active call, exactly once: nothing happens when the call
    is not active or `period` is not the next one (charged already, or out of order).
    Raises InsufficientFunds, with nothing charged, when the caller can't pay. Accept calls
    it for period 1; it may run inside the caller's transaction."""
    with transaction.atomic():
        call = Call.objects.select_for_update().filter(pk=call_id).first()
        if call is None or call.status != CallStatus.ACTIVE or period != call.periods_charged + 1:
            return
        assert call.started_at is not None, "an active call has started"
        caller_wallet = wallet_ensure(user_id=call.caller_id)
        request = period_transfer(
            call_id=call.pk,
            period=period,
            rate=call.rate_per_minute,
            host_share_percent=call.host_share_percent,
            caller=caller_wallet,
            host=wallet_ensure(user_id=call.callee_id),
        )
        result = wallet_transfer(
            kind=request.kind,
            idempotency_key=request.idempotency_key,
            legs=request.legs,
            reference=request.reference,
            metadata=request.metadata,
        )
        call.periods_charged = period
        call.total_coins += call.rate_per_minute
        call.next_charge_at = _next_charge_at(call.started_at, call.billing_period_seconds, period)
        seconds_left = low_balance_seconds_left(
            balance=result.balances[caller_wallet],
            rate=call.rate_per_minute,
            next_charge_at=call.next_charge_at,
            period_seconds=call.billing_period_seconds,
            now=timezone.now(),
        )
        if seconds_left is not None and call.low_balance_warned_period < period:
            call.low_balance_warned_period = period
            notify(
                call.caller_id,
                "call:low_balance",
                {"call_id": call.pk, "seconds_left": seconds_left},
            )
        call.save(
            update_fields=[
                "periods_charged",
                "total_coins",
                "next_charge_at",
                "low_balance_warned_period",
            ]
        )


def low_balance_seconds_left(
    *, balance: int, rate: int, next_charge_at: datetime, period_seconds: int, now: datetime
) -> int | None:
    """When the caller's `balance` pays at most one more period: the seconds until the call
    is cut off, i.e. until the first period the balance can't pay is due (the next one when
    it pays none, the one after when it pays one; a tick may come up to CALL_TICK_SECONDS
    later). None when the balance pays two periods or more."""
    affordable = balance // rate
    if affordable > 1:
        return None
    cutoff_at = next_charge_at + timedelta(seconds=affordable * period_seconds)
    return max(0, math.ceil((cutoff_at - now).total_seconds()))


def billing_tick(*, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> TickReport:
    """Charge every period of every active call that is due at `now` (default: the clock),
    oldest first, each call's periods in order (several when ticks were missed), a batch of
    calls per database transaction; cut off the calls whose caller can't pay; warn the
    callers who can pay at most one more period. Safe to run while other ticks run."""
    clock = time.monotonic()
    now = now or timezone.now()
    calls = charged = cut_off = warned = batches = 0
    # Keyset over (next_charge_at, id): each due call is claimed at most once per tick,
    # and one that another transaction holds locked is left to the next tick, not waited for.
    after: tuple[datetime, int] = (datetime.min.replace(tzinfo=UTC), 0)
    while True:
        with transaction.atomic():
            due = _claim_due(now=now, after=after, limit=batch_size)
            if not due:
                break
            after = (due[-1].next_charge_at, due[-1].id)
            batch_charged, batch_cut_off, batch_warned = _bill(due, now=now)
        calls += len(due)
        charged += batch_charged
        cut_off += batch_cut_off
        warned += batch_warned
        batches += 1
    report = TickReport(
        calls=calls,
        charged=charged,
        cut_off=cut_off,
        warned=warned,
        batches=batches,
        elapsed=time.monotonic() - clock,
    )
    if calls:
        logger.info("Billing tick: %s", report)
    return report


_CLAIM_SQL = f"""
SELECT c.id, c.caller_id, c.callee_id, c.rate_per_minute, c.host_share_percent,
       c.billing_period_seconds, c.started_at, c.periods_charged, c.next_charge_at,
       c.low_balance_warned_period, caller_wallet.id, host_wallet.id
FROM {Call._meta.db_table} AS c
LEFT JOIN {Wallet._meta.db_table} AS caller_wallet ON caller_wallet.owner_id = c.caller_id
LEFT JOIN {Wallet._meta.db_table} AS host_wallet ON host_wallet.owner_id = c.callee_id
WHERE c.status = %(active)s AND c.next_charge_at <= %(now)s
  AND c.next_charge_at >= %(after_at)s AND (c.next_charge_at, c.id) > (%(after_at)s, %(after_id)s)
ORDER BY c.next_charge_at, c.id
LIMIT %(limit)s
FOR NO KEY UPDATE OF c SKIP LOCKED
"""  # noqa: S608 (only the models' table names are interpolated)


def _claim_due(*, now: datetime, after: tuple[datetime, int], limit: int) -> list[_DueCall]:
    """Lock up to `limit` due active calls after the keyset position `after` (the call rows
    only: the wallets are locked later, in id order, by the ledger). The partial index
    call_billing_due serves the scan; rows changed since the scan's snapshot are re-checked
    against the WHERE clause when locked, so a call just ended is not taken."""
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_SQL,
            {
                "active": CallStatus.ACTIVE,
                "now": now,
                "after_at": after[0],
                "after_id": after[1],
                "limit": limit,
            },
        )
        return [_DueCall(*row) for row in cursor.fetchall()]


def _bill(due: list[_DueCall], *, now: datetime) -> tuple[int, int, int]:
    """Bill the locked calls `due` in the current transaction: (periods charged, calls cut
    off, warnings)."""
    wallets = _user_wallets(due)
    chains = [
        [
            period_transfer(
                call_id=call.id,
                period=period,
                rate=call.rate,
                host_share_percent=call.host_share_percent,
                caller=wallets[call.caller_id],
                host=wallets[call.callee_id],
            )
            for period in range(
                call.periods_charged + 1,
                _period_running(call.started_at, call.period_seconds, now) + 1,
            )
        ]
        for call in due
    ]
    results = wallet_transfer_batch(chains=chains)
    progress: list[tuple[int, int, int, int, datetime, int]] = []
    warnings: list[tuple[int, str, dict[str, Any]]] = []
    cut_off: list[int] = []
    charged = 0
    for call, result in zip(due, results, strict=True):
        if isinstance(result.refusal, InsufficientFunds):
            cut_off.append(call.id)
        elif result.refusal is not None:
            # A key reused for another transfer is a bug to look at, not a reason to end
            # the call: it stays due and is logged at every tick until fixed.
            logger.error("Call %s: period not charged: %r", call.id, result.refusal)
        if not result.done:
            continue
        charged += result.done
        periods = call.periods_charged + result.done
        next_charge_at = _next_charge_at(call.started_at, call.period_seconds, periods)
        warned_period = call.warned_period
        seconds_left = low_balance_seconds_left(
            balance=result.balances[wallets[call.caller_id]],
            rate=call.rate,
            next_charge_at=next_charge_at,
            period_seconds=call.period_seconds,
            now=now,
        )
        if seconds_left is not None and result.refusal is None and warned_period < periods:
            warned_period = periods
            warnings.append(
                (
                    call.caller_id,
                    "call:low_balance",
                    {"call_id": call.id, "seconds_left": seconds_left},
                )
            )
        progress.append(
            (
                call.id,
                call.periods_charged,
                periods,
                result.done * call.rate,
                next_charge_at,
                warned_period,
            )
        )
    _save_progress(progress)
    notify_many(warnings)
    for call_id in cut_off:
        _cut_off(call_id)
    return charged, len(cut_off), len(warnings)


def _user_wallets(due: list[_DueCall]) -> dict[int, int]:
    """User id -> wallet id of both parties of every call. Accept's charge made both
    wallets; wallet_ensure covers a host who has none because a 0 % share never paid her."""
    wallets: dict[int, int] = {}
    for call in due:
        for user_id, wallet_id in (
            (call.caller_id, call.caller_wallet),
            (call.callee_id, call.host_wallet),
        ):
            wallets[user_id] = (
                wallet_id if wallet_id is not None else wallet_ensure(user_id=user_id)
            )
    return wallets


_PROGRESS_SQL = f"""
UPDATE {Call._meta.db_table} AS c
SET periods_charged = v.periods, total_coins = c.total_coins + v.coins,
    next_charge_at = v.next_charge_at, low_balance_warned_period = v.warned_period
FROM unnest(%s::bigint[], %s::int[], %s::int[], %s::int[], %s::timestamptz[], %s::int[])
     AS v(id, was, periods, coins, next_charge_at, warned_period)
WHERE c.id = v.id AND c.status = %s AND c.periods_charged = v.was
"""  # noqa: S608 (the only interpolation is the model's table name)


def _save_progress(progress: list[tuple[int, int, int, int, datetime, int]]) -> None:
    """Advance the billed calls in one statement. Conditional on the periods charged that
    the batch read: the row locks already guarantee it, the row count proves it, and a
    mismatch rolls the whole batch back (coins included) rather than charge twice."""
    if not progress:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            _PROGRESS_SQL,
            [*(list(column) for column in zip(*progress, strict=True)), CallStatus.ACTIVE],
        )
        if cursor.rowcount != len(progress):
            raise RuntimeError(
                f"Billing: {len(progress) - cursor.rowcount} of {len(progress)} calls changed"
                " under their row locks; the batch is rolled back"
            )


def _cut_off(call_id: int) -> None:
    """End a call whose caller can't pay the due period (its row is locked by this
    transaction). In a savepoint: a call that fails to close must not cost the batch's
    other calls their billing; it stays active and due, so the next tick tries again."""
    # Imported here: calls.services imports this module.
    from calls.services import call_close

    try:
        with transaction.atomic():
            call = Call.objects.get(pk=call_id)
            call_close(call=call, status=CallStatus.ENDED, reason=EndReason.INSUFFICIENT_FUNDS)
    except Exception:
        logger.exception("Billing could not cut off call %s", call_id)


def _next_charge_at(started_at: datetime, period_seconds: int, periods_charged: int) -> datetime:
    """When the period after `periods_charged` paid ones starts, and is due."""
    return started_at + timedelta(seconds=periods_charged * period_seconds)


def _period_running(started_at: datetime, period_seconds: int, now: datetime) -> int:
    """The number of the period running at `now` (period 1 starts at `started_at`)."""
    return (now - started_at) // timedelta(seconds=period_seconds) + 1
