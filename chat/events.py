"""WebSocket handlers of chat (API.md, WebSocket: `chat:*`; docs/chat.md). They call the
same services as the REST views, on the gateway's thread pool; the services push, right
after MongoDB acknowledged the write they announce."""

from typing import Any

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
from videochat.gateway import EventContext, anotify, blocking, event, on_connect


@event("chat:message", data=MessageSendIn)
async def chat_message_event(ctx: EventContext, data: dict[str, Any]) -> dict[str, Any]:
    """Like POST /chat/messages; the ack carries the stored message."""
    sent = await blocking(message_send)(sender=ctx.user, **data)
    return {"message": sent.data}


@event("chat:delivered", data=MessageDeliveredIn)
async def chat_delivered_event(ctx: EventContext, data: dict[str, Any]) -> dict[str, Any]:
    """The client shows these messages: `sent` ones turn `delivered`, senders get receipts."""
    await blocking(messages_mark_delivered)(user_id=ctx.user_id, message_ids=data["message_ids"])
    return {}


@event("chat:read", data=ConversationReadIn)
async def chat_read_event(ctx: EventContext, data: dict[str, Any]) -> dict[str, Any]:
    """Like POST /chat/conversations/{id}/read."""
    await blocking(conversation_mark_read)(
        user_id=ctx.user_id, conversation_id=data["conversation_id"]
    )
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
    senders those messages were delivered. Pushed (ctx.push), so they arrive after the
    socket is accepted."""
    messages = await blocking(messages_undelivered_for)(user_id=ctx.user_id)
    if not messages:
        return
    for message in messages:
        await ctx.push("chat:message", {"message": message_data(message)})
    await blocking(messages_mark_delivered)(
        user_id=ctx.user_id, message_ids=[str(m.id) for m in messages]
    )
