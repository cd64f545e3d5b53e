"""WebSocket handlers of calls (API.md, WebSocket: `call:*`), thin like the views: the same
services answer both doors. Also the socket hooks that tell the disconnect grace which of a
user's sockets are alive (docs/calls.md, "Disconnects")."""

from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async

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
from videochat.gateway import EventContext, event, on_activity, on_connect, on_disconnect

# Redis only, no ORM: any pool thread will do.
socket_alive = sync_to_async(presence_socket_alive, thread_sensitive=False)
socket_closed = sync_to_async(presence_socket_closed, thread_sensitive=False)


@database_sync_to_async
def _invite(user: User, callee_id: int) -> dict[str, Any]:
    # Serialized on the ORM thread too: nothing lazy may load on the event loop.
    return {"call": call_data(call_invite(caller=user, callee_id=callee_id))}


@database_sync_to_async
def _answer(user: User, call_id: int, accept: bool) -> dict[str, Any]:
    answer = call_accept if accept else call_reject
    return {"call": call_data(answer(call_id=call_id, user=user))}


@database_sync_to_async
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
