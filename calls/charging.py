"""Charging the periods of active calls: the one implementation that accept (period 1), the
billing tick (`calls.billing`, the due periods of many calls) and the close of an active call
(every period that began before it ended) all use (API.md, Calls; docs/billing.md).

A call is billed in periods of `billing_period_seconds` (a "minute"): period n starts at
`started_at + (n - 1) * period` and is paid when it starts. A period is one ledger transfer,
key `call:<id>:minute:<n>`: the caller pays the call's rate, the host gets
`floor(rate * host_share_percent / 100)` and a platform revenue shard the rest.

Exactly once, in order, whoever charges: the caller must hold the call's row lock, and only
the periods after `periods_charged` are charged, as one chain of `wallet_transfer_batch`
(none after a refused one), in the caller's transaction, which also advances the call row's
figures; it commits whole or not at all. The idempotency key backs this up in the ledger.
"""

import logging
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from calls.models import Call, CallStatus
from videochat.errors import InsufficientFunds
from videochat.gateway.notify import notify_many
from wallet.ledger.models import EntryType, TransactionKind
from wallet.ledger.services import (
    ChainResult,
    TransferRequest,
    spend_legs,
    wallet_ensure,
    wallet_transfer_batch,
)

logger = logging.getLogger(__name__)


class BillableCall(NamedTuple):
    """What charging reads of a locked active call."""

    id: int
    caller_id: int
    callee_id: int
    rate: int
    host_share_percent: int
    period_seconds: int
    started_at: datetime
    periods_charged: int
    warned_period: int
    # The tick reads them with the call, to save a query per batch; None when not read (or
    # for a user who has no wallet yet).
    caller_wallet: int | None
    host_wallet: int | None


def period_transfer(
    *, call_id: int, period: int, rate: int, host_share_percent: int, caller: int, host: int
) -> TransferRequest:
    """The ledger transfer paying period `period` of a call (`caller` and `host` are wallet
    ids)."""
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


def charge_periods(
    calls: Sequence[tuple[BillableCall, int]], *, now: datetime, warn: bool = True
) -> tuple[list[ChainResult], int]:
    """For each `(call, through)`: charge the call's periods after the paid ones up to
    `through`, in order, stopping at the first one the caller can't pay; advance the call
    rows; and (with `warn`) send `call:low_balance` to callers whose balance pays at most one
    more period, once per period, timed from `now`. The calls must be active and locked by
    the current transaction. Returns what became of each call's chain (`done` periods, and
    the `refusal` that stopped it: InsufficientFunds when the caller can't pay), and how many
    callers were warned."""
    owing = [(call, through) for call, through in calls if through > call.periods_charged]
    wallets = _user_wallets([call for call, _ in owing])
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
            for period in range(call.periods_charged + 1, through + 1)
        ]
        for call, through in owing
    ]
    outcomes = dict(
        zip(
            [call.id for call, _ in owing],
            wallet_transfer_batch(chains=chains) if chains else [],
            strict=True,
        )
    )
    results: list[ChainResult] = []
    progress: list[tuple[int, int, int, int, datetime, int]] = []
    warnings: list[tuple[int, str, dict[str, Any]]] = []
    for call, _ in calls:
        # A call with nothing owed has a chain of none, done at once.
        result = outcomes.get(call.id, ChainResult(done=0, balances={}))
        results.append(result)
        if result.refusal is not None and not isinstance(result.refusal, InsufficientFunds):
            # A key reused for another transfer is a bug to look at, not a reason to end
            # the call: it stays due and is logged at every attempt until fixed.
            logger.error("Call %s: period not charged: %r", call.id, result.refusal)
        if not result.done:
            continue
        periods = call.periods_charged + result.done
        next_charge_at = period_start(call.started_at, call.period_seconds, periods + 1)
        warned_period = call.warned_period
        seconds_left = low_balance_seconds_left(
            balance=result.balances[wallets[call.caller_id]],
            rate=call.rate,
            next_charge_at=next_charge_at,
            period_seconds=call.period_seconds,
            now=now,
        )
        if warn and seconds_left is not None and result.refusal is None and warned_period < periods:
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
    return results, len(warnings)


def call_charge_periods(
    *, call: Call, through: int, now: datetime, warn: bool = True
) -> ChainResult:
    """charge_periods for one active call that the current transaction has locked; `call`'s
    billing figures are brought up to date."""
    assert call.started_at is not None, "an active call has started"
    [result], _ = charge_periods(
        [
            (
                BillableCall(
                    id=call.pk,
                    caller_id=call.caller_id,
                    callee_id=call.callee_id,
                    rate=call.rate_per_minute,
                    host_share_percent=call.host_share_percent,
                    period_seconds=call.billing_period_seconds,
                    started_at=call.started_at,
                    periods_charged=call.periods_charged,
                    warned_period=call.low_balance_warned_period,
                    caller_wallet=None,
                    host_wallet=None,
                ),
                through,
            )
        ],
        now=now,
        warn=warn,
    )
    if result.done:
        call.refresh_from_db(
            fields=["periods_charged", "total_coins", "next_charge_at", "low_balance_warned_period"]
        )
    return result


def call_charge_period(*, call_id: int, period: int) -> None:
    """Charge period `period` of an active call, exactly once: nothing happens when the call
    is not active or `period` is not the next one (charged already, or out of order).
    Raises InsufficientFunds, with nothing charged, when the caller can't pay. Accept calls
    it for period 1; it may run inside the caller's transaction."""
    with transaction.atomic():
        call = Call.objects.select_for_update(no_key=True).filter(pk=call_id).first()
        if call is None or call.status != CallStatus.ACTIVE or period != call.periods_charged + 1:
            return
        result = call_charge_periods(call=call, through=period, now=timezone.now())
        if isinstance(result.refusal, InsufficientFunds):
            raise result.refusal


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


def period_start(started_at: datetime, period_seconds: int, period: int) -> datetime:
    """When period `period` starts (and is due)."""
    return started_at + timedelta(seconds=(period - 1) * period_seconds)


def periods_begun(started_at: datetime, period_seconds: int, *, by: datetime) -> int:
    """How many periods have begun by the instant `by` (period 1 begins at `started_at`)."""
    return (by - started_at) // timedelta(seconds=period_seconds) + 1


def periods_begun_before(started_at: datetime, period_seconds: int, *, end: datetime) -> int:
    """How many periods began before a call that started at `started_at` ended at `end`
    (a period beginning at the very instant of the end did not begin before it)."""
    return -((started_at - end) // timedelta(seconds=period_seconds))


def _user_wallets(calls: list[BillableCall]) -> dict[int, int]:
    """User id -> wallet id of both parties of every call: the ones read with the call, the
    others looked up (wallet_ensure also covers a host who has none because a 0 % share never
    paid her)."""
    wallets: dict[int, int] = {}
    for call in calls:
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
    """Advance the charged calls in one statement. Conditional on the periods charged that
    were read: the row locks already guarantee it, the row count proves it, and a mismatch
    rolls the whole transaction back (coins included) rather than charge twice."""
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
                " under their row locks; the charges are rolled back"
            )
