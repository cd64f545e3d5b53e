"""WebSocket handlers of calls (API.md, WebSocket: `call:*`), thin like the views: the same
services answer both doors. Which of a user's sockets are alive (docs/calls.md,
"Disconnects") is presence's to record: accounts/events.py holds those socket hooks."""

from typing import Any

from accounts.models import User
from calls.payloads import call_data
from calls.serializers import CallAnswerIn, CallCreateSerializer, CallEndIn, CallSignalIn
from calls.services import call_accept, call_end, call_invite, call_reject
from calls.signaling import call_signal_relay
from videochat.gateway import EventContext, blocking, event


@blocking
def _invite(user: User, callee_id: int) -> dict[str, Any]:
    # Serialized off the event loop too: nothing lazy may load there.
    return {"call": call_data(call_invite(caller=user, callee_id=callee_id))}


@blocking
def _answer(user: User, call_id: int, accept: bool) -> dict[str, Any]:
    answer = call_accept if accept else call_reject
    return {"call": call_data(answer(call_id=call_id, user=user))}


@blocking
def _end(user: User, call_id: int) -> dict[str, Any]:
    return {"call": call_data(call_end(call_id=call_id, user=user))}


@event("call:invite", data=CallCreateSerializer)
async def call_invite_event(ctx: EventContext, data: dict[str, Any]) -> dict[str, Any]:
    """Like POST /calls; the ack carries the call."""
    return await _invite(ctx.user, data["callee_id"])


@event("call:answer", data=CallAnswerIn)
async def call_answer_event(ctx: EventContext, data: dict[str, Any]) -> dict[str, Any]:
    """Like POST /calls/{id}/accept or /reject; the ack carries the call."""
    return await _answer(ctx.user, data["call_id"], data["accept"])


@event("call:end", data=CallEndIn)
async def call_end_event(ctx: EventContext, data: dict[str, Any]) -> dict[str, Any]:
    """Like POST /calls/{id}/end; the ack carries the call."""
    return await _end(ctx.user, data["call_id"])


@event("call:signal", data=CallSignalIn)
async def call_signal_event(ctx: EventContext, data: dict[str, Any]) -> None:
    await call_signal_relay(sender_id=ctx.user_id, **data)
