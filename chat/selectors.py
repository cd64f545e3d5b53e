"""Chat reads (API.md, Chat). Only participants see a conversation: anyone else gets 404,
so a conversation id tells nothing about who talks to whom."""

from typing import Any

from bson import ObjectId

from chat.documents import Conversation, Message
from videochat.errors import NotFound, ValidationFailed
from videochat.timestamps import iso_timestamp

PAGE_DEFAULT, PAGE_MAX = 50, 100


def message_data(message: Message) -> dict[str, Any]:
    """The API's message object, JSON-ready, as MessageSerializer documents it."""
    return {
        "id": str(message.id),
        "conversation_id": message.conversation_id,
        "sender_id": message.sender_id,
        "receiver_id": message.receiver_id,
        "text": message.text,
        "client_id": message.client_id,
        "status": message.status,
        "created_at": iso_timestamp(message.created_at),
        "delivered_at": iso_timestamp(message.delivered_at),
        "read_at": iso_timestamp(message.read_at),
    }


def conversation_data(conversation: Conversation, *, user_id: int) -> dict[str, Any]:
    last = conversation.last_message
    if last:
        last = {**last, "created_at": iso_timestamp(last["created_at"])}
    return {
        "id": str(conversation.id),
        "participants": list(conversation.participants),
        "last_message": last or None,
        "updated_at": iso_timestamp(conversation.updated_at),
        "unread_count": max(int((conversation.unread or {}).get(str(user_id), 0)), 0),
    }


def conversation_get_for(*, conversation_id: str, user_id: int) -> Conversation:
    if not ObjectId.is_valid(conversation_id):
        raise NotFound("No such conversation.")
    conversation = Conversation.objects(id=conversation_id, participants=user_id).first()
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


def page_limit(raw: str | None) -> int:
    if raw in (None, ""):
        return PAGE_DEFAULT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if limit < 1:
        raise ValidationFailed(
            "The request is not valid.", details={"limit": ["A positive integer."]}
        )
    return min(limit, PAGE_MAX)


def conversation_list_for(
    *, user_id: int, before: str | None, limit: int, param: str = "cursor"
) -> tuple[list[Conversation], str | None]:
    """Most recent first; `before` is the last conversation id of the previous page (None:
    the first page). A `before` that is not one is ValidationFailed on `param`."""
    query = Conversation.objects(participants=user_id, last_message__ne=None)
    if before is not None:
        anchor = _anchor(Conversation, before, param, participants=user_id)
        query = query.filter(
            __raw__={
                "$or": [
                    {"updated_at": {"$lt": anchor.updated_at}},
                    {"updated_at": anchor.updated_at, "_id": {"$lt": anchor.id}},
                ]
            }
        )
    items = list(query.order_by("-updated_at", "-id").limit(limit + 1))
    return items[:limit], (str(items[limit - 1].id) if len(items) > limit else None)


def message_list_for(
    *, conversation_id: str, user_id: int, before: str | None, limit: int, param: str = "before"
) -> tuple[list[Message], str | None]:
    """Newest first; `before` is a message id: the page holds only older messages (None:
    the newest). A `before` that is not one of them is ValidationFailed on `param`."""
    conversation = conversation_get_for(conversation_id=conversation_id, user_id=user_id)
    query = Message.objects(conversation_id=str(conversation.id))
    if before is not None:
        anchor = _anchor(Message, before, param, conversation_id=str(conversation.id))
        query = query.filter(
            __raw__={
                "$or": [
                    {"created_at": {"$lt": anchor.created_at}},
                    {"created_at": anchor.created_at, "_id": {"$lt": anchor.id}},
                ]
            }
        )
    items = list(query.order_by("-created_at", "-id").limit(limit + 1))
    return items[:limit], (str(items[limit - 1].id) if len(items) > limit else None)


def _anchor(document: Any, raw_id: str, param: str, **scope: Any) -> Any:
    anchor = document.objects(id=raw_id, **scope).first() if ObjectId.is_valid(raw_id) else None
    if anchor is None:
        raise ValidationFailed(
            "The request is not valid.", details={param: ["Not an id from this list."]}
        )
    return anchor


def messages_undelivered_for(*, user_id: int, limit: int = 200) -> list[Message]:
    """Messages the user received while offline (still `sent`), oldest first."""
    return list(
        Message.objects(receiver_id=user_id, status="sent").order_by("created_at").limit(limit)
    )


def conversation_partner_ids(*, user_id: int) -> list[int]:
    """Everyone the user has a conversation with (who `presence:update` pushes go to)."""
    partners: set[int] = set()
    for participants in Conversation.objects(participants=user_id).scalar("participants"):
        partners.update(p for p in participants if p != user_id)
    return sorted(partners)


def messages_between(*, user_ids: tuple[int, int], limit: int = PAGE_DEFAULT) -> list[Message]:
    """The `limit` most recent messages of the two users' conversation, oldest first (for
    staff reading a reported conversation; no participant check: the caller's permission
    decides)."""
    key = "{}:{}".format(*sorted(user_ids))
    conversation = Conversation.objects(key=key).only("id").first()
    if conversation is None:
        return []
    query = Message.objects(conversation_id=str(conversation.id))
    return list(query.order_by("-created_at", "-id").limit(limit))[::-1]
