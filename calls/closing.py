"""Closing a call (API.md, Calls; docs/calls.md): the one path every end of a call takes
(hang-up, rejection, disconnect, the ring timeout, billing's cut-off, a ban). The lifecycle
(`calls.services`) and the billing tick (`calls.billing`) both close calls through here;
this module needs neither of them."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.presence import presence_busy_clear
from calls.charging import call_charge_periods, periods_begun_before
from calls.models import OPEN_STATUSES, Call, CallStatus, EndReason
from calls.payloads import call_end_data
from calls.signaling import relay_close
from videochat.errors import Conflict
from videochat.gateway import notify


def call_close(
    *,
    call: Call,
    status: CallStatus,
    reason: EndReason,
    ended_by: User | None = None,
    now: datetime | None = None,
) -> Call:
    """Close an open call that the current transaction has locked, at `now` (default: the
    clock). An active call that ends first pays every period that began before its end and
    is not paid yet, as the tick would have (calls.charging), within the caller's balance: a
    period the caller can't pay is not charged, and the call still ends for `reason`. Then
    record the end, and after commit unmark both parties busy, stop the relay and push
    `call:end` to every socket of both. It may move coins: call it before the transaction
    locks any wallet row itself (the ledger's lock order)."""
    if call.status not in OPEN_STATUSES:
        raise Conflict("The call is over already.", details={"status": call.status})
    ended_at = now or timezone.now()
    if call.status == CallStatus.ACTIVE and status == CallStatus.ENDED:
        assert call.started_at is not None, "an active call has started"
        call_charge_periods(
            call=call,
            through=periods_begun_before(
                call.started_at, call.billing_period_seconds, end=ended_at
            ),
            now=ended_at,
            warn=False,
        )
    call.status = status
    call.end_reason = reason
    call.ended_by = ended_by
    call.ended_at = ended_at
    call.next_charge_at = None
    call.save(update_fields=["status", "end_reason", "ended_by", "ended_at", "next_charge_at"])
    call_release_on_commit(call)
    payload = call_end_data(call)
    for user_id in (call.caller_id, call.callee_id):
        notify(user_id, "call:end", payload)
    return call


def call_release_on_commit(call: Call) -> None:
    """Once the transaction that closed `call` commits: unmark both parties busy and stop
    the relay. Robust: the close is committed either way, and a lost tombstone only costs
    the relay a database lookup, a lost unmark fades with the user's presence."""
    call_id, parties = call.pk, [call.caller_id, call.callee_id]

    def release() -> None:
        relay_close(call_id=call_id)
        presence_busy_clear(user_ids=parties, call_id=call_id)

    transaction.on_commit(release, robust=True)
