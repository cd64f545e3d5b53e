"""WebSocket handlers of chat (API.md, WebSocket: `chat:*`; docs/chat.md). They call the
same services as the REST views, on the gateway's thread pool; pushes go out right after
MongoDB acknowledged the write they announce."""

from typing import Any

from channels.layers import get_channel_layer

from accounts.presence import presence_has_socket
from accounts.selectors import is_blocked_between
from chat.selectors import message_data, messages_undelivered_for
from chat.serializers import ConversationReadIn, MessageDeliveredIn, MessageSendIn, TypingIn
from chat.services import (
    conversation_mark_read,
    message_send,
    messages_mark_delivered,
    typing_rate_check,
)
from videochat.gateway import EventContext, anotify, event, on_connect
from videochat.gateway.frames import encode_frame
from videochat.gateway.threads import blocking


async def _push_all(pushes: list[tuple[int, str, dict[str, Any]]]) -> None:
    for user_id, type, data in pushes:
        await anotify(user_id, type, data)


@event("chat:message", data=MessageSendIn)
async def chat_message_event(ctx: EventContext, data: dict[str, Any]) -> dict[str, Any]:
    """Like POST /chat/messages; the ack carries the stored message."""
    message, _created = await blocking(message_send)(sender=ctx.user, **data)
    return {"message": message_data(message)}


@event("chat:delivered", data=MessageDeliveredIn)
async def chat_delivered_event(ctx: EventContext, data: dict[str, Any]) -> dict[str, Any]:
    """The client shows these messages: `sent` ones turn `delivered`, senders get receipts."""
    pushes = await blocking(messages_mark_delivered)(
        user_id=ctx.user_id, message_ids=data["message_ids"]
    )
    await _push_all(pushes)
    return {}


@event("chat:read", data=ConversationReadIn)
async def chat_read_event(ctx: EventContext, data: dict[str, Any]) -> dict[str, Any]:
    """Like POST /chat/conversations/{id}/read."""
    pushes = await blocking(conversation_mark_read)(
        user_id=ctx.user_id, conversation_id=data["conversation_id"]
    )
    await _push_all(pushes)
    return {}


@event("chat:typing", data=TypingIn)
async def chat_typing_event(ctx: EventContext, data: dict[str, Any]) -> dict[str, Any]:
    """Relayed to the other party's sockets when they are online; never stored."""
    to = data["to"]
    await blocking(typing_rate_check)(user_id=ctx.user_id)
    if to == ctx.user_id or await blocking(is_blocked_between)(ctx.user_id, to):
        return {}  # Says nothing about whether the other user exists or blocked anyone.
    if await blocking(presence_has_socket)(user_id=to):
        await anotify(to, "chat:typing", {"from": ctx.user_id, "is_typing": data["is_typing"]})
    return {}


@on_connect
async def chat_offline_delivery(ctx: EventContext) -> None:
    """Hand a connecting socket what arrived while its user was offline, then tell the
    senders those messages were delivered. The frames go to this socket's own channel, so
    they arrive after the socket is accepted."""
    messages = await blocking(messages_undelivered_for)(user_id=ctx.user_id)
    if not messages:
        return
    layer = get_channel_layer()
    assert layer is not None
    for message in messages:
        text = encode_frame({"type": "chat:message", "data": {"message": message_data(message)}})
        await layer.send(ctx.channel_name, {"type": "gateway.push", "text": text})
    pushes = await blocking(messages_mark_delivered)(
        user_id=ctx.user_id, message_ids=[str(m.id) for m in messages]
    )
    await _push_all(pushes)
