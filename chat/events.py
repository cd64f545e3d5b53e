"""WebSocket handlers of chat (API.md, WebSocket: `chat:*`; docs/chat.md). They compose the
same services as the REST views: ORM checks (recipient, blocks) on the ORM thread,
MongoDB and Redis work on any pool thread, and pushes right after MongoDB acknowledged the
write."""

from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from accounts.presence import presence_has_socket
from accounts.selectors import is_blocked_between
from chat.selectors import message_data, messages_undelivered_for
from chat.serializers import ConversationReadIn, MessageDeliveredIn, MessageSendIn, TypingIn
from chat.services import (
    conversation_mark_read,
    message_rate_check,
    message_recipient_check,
    message_store,
    message_stored,
    message_text_clean,
    messages_mark_delivered,
    typing_rate_check,
)
from videochat.gateway import EventContext, anotify, event, on_connect
from videochat.gateway.frames import encode_frame


def _off_loop(function: Any) -> Any:
    # MongoDB and Redis only, no ORM: any pool thread will do.
    return sync_to_async(function, thread_sensitive=False)


async def _push_all(pushes: list[tuple[int, str, dict[str, Any]]]) -> None:
    for user_id, type, data in pushes:
        await anotify(user_id, type, data)


@event("chat:message", data=MessageSendIn)
async def chat_message_event(ctx: EventContext, data: dict[str, Any]) -> dict[str, Any]:
    """Like POST /chat/messages; the ack carries the stored message."""
    existing = await _off_loop(message_stored)(sender_id=ctx.user_id, client_id=data["client_id"])
    if existing is not None:
        return {"message": message_data(existing)}  # A retry: neither limited nor pushed.
    await _off_loop(message_rate_check)(user_id=ctx.user_id)
    message_text_clean(data["text"])
    await database_sync_to_async(message_recipient_check)(sender_id=ctx.user_id, to=data["to"])
    message, created = await _off_loop(message_store)(sender_id=ctx.user_id, **data)
    payload = message_data(message)
    if created:
        await anotify(data["to"], "chat:message", {"message": payload})
    return {"message": payload}


@event("chat:delivered", data=MessageDeliveredIn)
async def chat_delivered_event(ctx: EventContext, data: dict[str, Any]) -> dict[str, Any]:
    """The client shows these messages: `sent` ones turn `delivered`, senders get receipts."""
    pushes = await _off_loop(messages_mark_delivered)(
        user_id=ctx.user_id, message_ids=data["message_ids"]
    )
    await _push_all(pushes)
    return {}


@event("chat:read", data=ConversationReadIn)
async def chat_read_event(ctx: EventContext, data: dict[str, Any]) -> dict[str, Any]:
    """Like POST /chat/conversations/{id}/read."""
    pushes = await _off_loop(conversation_mark_read)(
        user_id=ctx.user_id, conversation_id=data["conversation_id"]
    )
    await _push_all(pushes)
    return {}


@event("chat:typing", data=TypingIn)
async def chat_typing_event(ctx: EventContext, data: dict[str, Any]) -> dict[str, Any]:
    """Relayed to the other party's sockets when they are online; never stored."""
    to = data["to"]
    await _off_loop(typing_rate_check)(user_id=ctx.user_id)
    if to == ctx.user_id or await database_sync_to_async(is_blocked_between)(ctx.user_id, to):
        return {}  # Says nothing about whether the other user exists or blocked anyone.
    if await _off_loop(presence_has_socket)(user_id=to):
        await anotify(to, "chat:typing", {"from": ctx.user_id, "is_typing": data["is_typing"]})
    return {}


@on_connect
async def chat_offline_delivery(ctx: EventContext) -> None:
    """Hand a connecting socket what arrived while its user was offline, then tell the
    senders those messages were delivered. The frames go to this socket's own channel, so
    they arrive after the socket is accepted."""
    messages = await _off_loop(messages_undelivered_for)(user_id=ctx.user_id)
    if not messages:
        return
    layer = get_channel_layer()
    assert layer is not None
    for message in messages:
        text = encode_frame({"type": "chat:message", "data": {"message": message_data(message)}})
        await layer.send(ctx.channel_name, {"type": "gateway.push", "text": text})
    pushes = await _off_loop(messages_mark_delivered)(
        user_id=ctx.user_id, message_ids=[str(m.id) for m in messages]
    )
    await _push_all(pushes)
