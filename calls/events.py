"""WebSocket handlers of calls (API.md, WebSocket: `call:*`), thin like the views: the same
services answer both doors. Also the socket hooks that tell the disconnect grace which of a
user's sockets are alive (docs/calls.md, "Disconnects")."""

from typing import Any

from accounts.models import User
from accounts.presence import presence_socket_alive, presence_socket_closed
from calls.serializers import CallAnswerIn, CallCreateSerializer, CallEndIn, CallSignalIn
from calls.services import (
    call_accept,
    call_data,
    call_end,
    call_invite,
    call_reject,
    call_signal_relay,
)
from videochat.gateway import (
    EventContext,
    blocking,
    event,
    on_activity,
    on_connect,
    on_disconnect,
)

socket_alive = blocking(presence_socket_alive)
socket_closed = blocking(presence_socket_closed)


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


@on_connect
@on_activity
async def call_socket_alive(ctx: EventContext) -> None:
    await socket_alive(user_id=ctx.user_id, socket_id=ctx.channel_name)


@on_disconnect
async def call_socket_closed(ctx: EventContext) -> None:
    await socket_closed(user_id=ctx.user_id, socket_id=ctx.channel_name)
