"""The call objects that pushes and socket acks carry, built by hand; each equals the
serializer or the API.md entry that documents it (calls/tests/test_payloads.py)."""

from typing import Any

from accounts.payloads import party_data
from calls.models import Call
from videochat.timestamps import iso_timestamp


def call_data(call: Call) -> dict[str, Any]:
    """The call object as both doors show it, as CallSerializer documents it (its caller
    and callee must be loaded)."""
    return {
        "id": call.pk,
        "caller": party_data(call.caller),
        "callee": party_data(call.callee),
        "status": call.status,
        "rate_per_minute": call.rate_per_minute,
        "created_at": iso_timestamp(call.created_at),
        "started_at": iso_timestamp(call.started_at),
        "ended_at": iso_timestamp(call.ended_at),
        "duration_seconds": call.duration_seconds,
        "periods_charged": call.periods_charged,
        "total_coins": call.total_coins,
        "end_reason": call.end_reason or None,
    }


def call_end_data(call: Call) -> dict[str, Any]:
    """The data of `call:end` (API.md, WebSocket)."""
    return {
        "call_id": call.pk,
        "status": call.status,
        "reason": call.end_reason,
        "ended_by": call.ended_by_id,
        "duration_seconds": call.duration_seconds,
        "total_coins": call.total_coins,
    }
