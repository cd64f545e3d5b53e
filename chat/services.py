"""Chat writes (API.md, Chat; docs/chat.md). The socket events and the REST views call the
same functions, and the functions push what they changed (`chat:message`, `chat:receipt`).
MongoDB has no Django transaction: pushes go right after the write that they announce was
acknowledged by MongoDB, never before."""

from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from accounts.models import User
from accounts.selectors import recipient_state
from chat.documents import STATUS_DELIVERED, STATUS_READ, STATUS_SENT, Conversation, Message
from chat.selectors import conversation_get_for, message_data
from chat.writer import NewMessage, message_writer, now_ms
from videochat.errors import Blocked, NotFound, RateLimited, ValidationFailed
from videochat.gateway import notify, notify_many
from videochat.ratelimit import Rate, rate_limit

TEXT_MAX_LENGTH = 4000
# Per user: (messages, seconds) and (typing events, seconds).
MESSAGE_RATE: Rate = (20, 10)
TYPING_RATE: Rate = (2, 1)


def message_rate_check(*, user_id: int) -> None:
    rate_limit(action="chat:message", user_id=user_id, rate=MESSAGE_RATE, what="messages")


def typing_rate_check(*, user_id: int) -> None:
    rate_limit(action="chat:typing", user_id=user_id, rate=TYPING_RATE, what="typing events")


def message_text_clean(text: str) -> str:
    text = text.strip()
    if not 1 <= len(text) <= TEXT_MAX_LENGTH:
        raise ValidationFailed(
            "The request is not valid.",
            details={"text": [f"Text must be 1 to {TEXT_MAX_LENGTH} characters."]},
        )
    return text


def message_recipient_check(*, sender_id: int, to: int) -> None:
    """The recipient exists, is active, is not the sender and nobody blocked."""
    if to == sender_id:
        raise ValidationFailed(
            "The request is not valid.", details={"to": ["You can't message yourself."]}
        )
    state = recipient_state(sender_id=sender_id, recipient_id=to)
    if state == "missing":
        raise NotFound("No such user.")
    if state == "blocked":
        raise Blocked("You can't message this user.")


def message_stored(*, sender_id: int, client_id: str) -> Message | None:
    """The message this sender already stored under client_id, if any."""
    return Message.objects(sender_id=sender_id, client_id=client_id).first()


def message_store(*, sender_id: int, to: int, text: str, client_id: str) -> tuple[Message, bool]:
    """MongoDB only: store the message (its `text` cleaned by message_text_clean) once per
    (sender, client_id) with its conversation update (chat/writer.py). Returns (message,
    created); a repeated client_id returns the stored one."""
    message = NewMessage(sender_id=sender_id, to=to, text=text, client_id=client_id)
    for _ in range(2):
        try:
            document = message_writer.store(message)
        except DuplicateKeyError:
            stored = message_stored(sender_id=sender_id, client_id=client_id)
            if stored is not None:
                return stored, False
            continue  # Two first messages raced to create the conversation: again.
        return Message._from_son(document), True
    raise RuntimeError("storing the message failed twice on a duplicate key")


@dataclass(frozen=True, slots=True)
class MessageSent:
    message: Message
    # The message object (message_data), as the answer, the ack and the push show it.
    data: dict[str, Any]
    # False when the client_id had stored this message before: nothing was pushed again.
    created: bool


def message_send(*, sender: User, to: int, text: str, client_id: str) -> MessageSent:
    """POST /chat/messages and chat:message: validate, store, push to the recipient.
    A repeated client_id pushes nothing again and returns the stored message; it is never
    refused for the rate limit or a block that came later (found only when refused, so a
    new message costs no extra lookup)."""
    text = message_text_clean(text)
    try:
        message_rate_check(user_id=sender.pk)
        message_recipient_check(sender_id=sender.pk, to=to)
    except (RateLimited, Blocked, NotFound):
        existing = message_stored(sender_id=sender.pk, client_id=client_id)
        if existing is not None:
            return MessageSent(message=existing, data=message_data(existing), created=False)
        raise
    message, created = message_store(sender_id=sender.pk, to=to, text=text, client_id=client_id)
    data = message_data(message)
    if created:
        notify(to, "chat:message", {"message": data})
    return MessageSent(message=message, data=data, created=created)


def _push_receipts(messages: list[dict[str, Any]], status: str) -> None:
    """One `chat:receipt` per sender of `messages` (documents with `_id` and `sender_id`)."""
    by_sender: dict[int, list[str]] = {}
    for message in messages:
        by_sender.setdefault(message["sender_id"], []).append(str(message["_id"]))
    notify_many(
        (sender_id, "chat:receipt", {"message_ids": ids, "status": status})
        for sender_id, ids in by_sender.items()
    )


def messages_mark_delivered(*, user_id: int, message_ids: list[str] | None = None) -> None:
    """Mark `sent` messages received by the user as delivered (all of them when no ids are
    given) and send their senders receipts; never moves a read message back."""
    query: dict[str, Any] = {"receiver_id": user_id, "status": STATUS_SENT}
    if message_ids is not None:
        query["_id"] = {"$in": [ObjectId(i) for i in message_ids if ObjectId.is_valid(i)]}
    collection = Message._get_collection()
    found = list(collection.find(query, {"sender_id": 1}))
    if not found:
        return
    ids = [m["_id"] for m in found]
    collection.update_many(
        {"_id": {"$in": ids}, "status": STATUS_SENT},
        {"$set": {"status": STATUS_DELIVERED, "delivered_at": now_ms()}},
    )
    _push_receipts(found, STATUS_DELIVERED)


def conversation_mark_read(*, user_id: int, conversation_id: str) -> None:
    """POST /chat/conversations/{id}/read and chat:read: mark every message the user
    received in the conversation read, lower the user's unread count by as many as this
    call changed, and send the senders receipts. 404 for non-participants."""
    conversation = conversation_get_for(conversation_id=conversation_id, user_id=user_id)
    collection = Message._get_collection()
    query = {
        "conversation_id": str(conversation.id),
        "receiver_id": user_id,
        "status": {"$in": [STATUS_SENT, STATUS_DELIVERED]},
    }
    found = list(collection.find(query, {"sender_id": 1}))
    if not found:
        return
    now = now_ms()
    ids = [m["_id"] for m in found]
    result = collection.update_many(
        {"_id": {"$in": ids}, "status": {"$in": [STATUS_SENT, STATUS_DELIVERED]}},
        {"$set": {"status": STATUS_READ, "read_at": now}},
    )
    # Messages delivered without a delivered receipt get their delivered_at too.
    collection.update_many(
        {"_id": {"$in": ids}, "delivered_at": None}, {"$set": {"delivered_at": now}}
    )
    if result.modified_count:
        Conversation._get_collection().update_one(
            {"_id": conversation.id}, {"$inc": {f"unread.{user_id}": -result.modified_count}}
        )
    _push_receipts(found, STATUS_READ)
