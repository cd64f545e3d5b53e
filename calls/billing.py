"""The billing tick (API.md, Calls; docs/billing.md): the beat task `calls_billing_tick` charges
the periods of active calls as they start, many calls at once. Charging itself (the ledger
transfer of a period, the call's figures, the low-balance warning) is `calls.charging`, the
one implementation that accept and the close of a call use too.

Exactly once, never skipped, whatever runs at the same time or dies half way:
- A period is charged only under the call's row lock and only after the ones paid
  (`periods_charged`), in the same database transaction that moves the coins and advances
  `periods_charged`: it commits whole or not at all.
- The tick claims due calls with SELECT ... FOR NO KEY UPDATE SKIP LOCKED, so concurrent
  ticks split the calls instead of both billing one, and a call being answered or closed is
  left to the next tick (a close charges the periods that began before it); the idempotency
  key backs this up in the ledger. NO KEY UPDATE (what an UPDATE that keeps the row's key
  takes anyway), not FOR UPDATE: a gift sent in the call takes a KEY SHARE lock on the call
  row at commit (its foreign key) while it holds the wallets the tick locks next, and FOR
  UPDATE would make the two wait for each other.
- A worker killed mid-tick loses only its uncommitted batch, which the next tick redoes.
"""

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction
from django.utils import timezone

from calls.charging import BillableCall, charge_periods, periods_begun
from calls.closing import call_close
from calls.models import Call, CallStatus, EndReason
from videochat.errors import InsufficientFunds
from wallet.ledger.models import Wallet

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
            claimed = _claim_due(now=now, after=after, limit=batch_size)
            if not claimed:
                break
            last, last_due_at = claimed[-1]
            after = (last_due_at, last.id)
            due = [call for call, _ in claimed]
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
       c.billing_period_seconds, c.started_at, c.periods_charged,
       c.low_balance_warned_period, caller_wallet.id, host_wallet.id, c.next_charge_at
FROM {Call._meta.db_table} AS c
LEFT JOIN {Wallet._meta.db_table} AS caller_wallet ON caller_wallet.owner_id = c.caller_id
LEFT JOIN {Wallet._meta.db_table} AS host_wallet ON host_wallet.owner_id = c.callee_id
WHERE c.status = %(active)s AND c.next_charge_at <= %(now)s
  AND c.next_charge_at >= %(after_at)s AND (c.next_charge_at, c.id) > (%(after_at)s, %(after_id)s)
ORDER BY c.next_charge_at, c.id
LIMIT %(limit)s
FOR NO KEY UPDATE OF c SKIP LOCKED
"""  # noqa: S608 (only the models' table names are interpolated)


def _claim_due(
    *, now: datetime, after: tuple[datetime, int], limit: int
) -> list[tuple[BillableCall, datetime]]:
    """Lock up to `limit` due active calls after the keyset position `after` (the call rows
    only: the wallets are locked later, in id order, by the ledger), each with its
    `next_charge_at`. The partial index call_billing_due serves the scan; rows changed since
    the scan's snapshot are re-checked against the WHERE clause when locked, so a call just
    ended is not taken."""
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
        return [(BillableCall(*row[:-1]), row[-1]) for row in cursor.fetchall()]


def _bill(due: list[BillableCall], *, now: datetime) -> tuple[int, int, int]:
    """Bill the locked calls `due` in the current transaction: (periods charged, calls cut
    off, warnings)."""
    results, warned = charge_periods(
        [(call, periods_begun(call.started_at, call.period_seconds, by=now)) for call in due],
        now=now,
    )
    cut_off = [
        call.id
        for call, result in zip(due, results, strict=True)
        if isinstance(result.refusal, InsufficientFunds)
    ]
    for call_id in cut_off:
        _cut_off(call_id, now=now)
    return sum(result.done for result in results), len(cut_off), warned


def _cut_off(call_id: int, *, now: datetime) -> None:
    """End a call whose caller can't pay the due period (its row is locked by this
    transaction). In a savepoint: a call that fails to close must not cost the batch's
    other calls their billing; it stays active and due, so the next tick tries again."""
    try:
        with transaction.atomic():
            call = Call.objects.get(pk=call_id)
            # Ended at the tick's `now`: the close's own charge then tries only periods this
            # batch tried (their keys and wallets are this transaction's already, so it takes
            # no lock out of order) and is refused the same one again.
            call_close(
                call=call, status=CallStatus.ENDED, reason=EndReason.INSUFFICIENT_FUNDS, now=now
            )
    except Exception:
        logger.exception("Billing could not cut off call %s", call_id)
