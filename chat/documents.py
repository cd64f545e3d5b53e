"""Chat documents in MongoDB (API.md, Chat; docs/chat.md). Indexes are declared here and
created by `manage.py ensure_mongo_indexes` (set-up), never by the first request."""

from mongoengine import DateTimeField, DictField, Document, IntField, ListField, StringField

STATUS_SENT, STATUS_DELIVERED, STATUS_READ = "sent", "delivered", "read"
# Statuses only move forward: sent -> delivered -> read.
STATUS_ORDER = {STATUS_SENT: 0, STATUS_DELIVERED: 1, STATUS_READ: 2}


class Conversation(Document):
    """One per pair of users, found by `key` ("<smaller id>:<larger id>")."""

    key = StringField(required=True)
    participants = ListField(IntField(), required=True)
    # A summary of the newest message: {id, sender_id, text, created_at}.
    last_message = DictField(default=None, null=True)
    # str(user_id) -> messages that user received and has not read yet.
    unread = DictField(default=dict)
    updated_at = DateTimeField(required=True)

    meta = {
        "collection": "chat_conversations",
        "auto_create_index": False,
        "indexes": [
            {"fields": ["key"], "unique": True, "name": "conversation_key"},
            {"fields": ["participants", "-updated_at", "-_id"], "name": "conversation_recent"},
        ],
    }


class Message(Document):
    conversation_id = StringField(required=True)
    sender_id = IntField(required=True)
    receiver_id = IntField(required=True)
    text = StringField(required=True)
    client_id = StringField(required=True)
    status = StringField(required=True, choices=tuple(STATUS_ORDER), default=STATUS_SENT)
    created_at = DateTimeField(required=True)
    delivered_at = DateTimeField(null=True)
    read_at = DateTimeField(null=True)

    meta = {
        "collection": "chat_messages",
        "auto_create_index": False,
        "indexes": [
            {"fields": ["conversation_id", "-created_at", "-_id"], "name": "message_history"},
            {"fields": ["sender_id", "client_id"], "unique": True, "name": "message_client_id"},
            # Unread and undelivered messages of a receiver (read marks, offline delivery).
            {"fields": ["receiver_id", "status", "created_at"], "name": "message_inbox"},
        ],
    }


def chat_indexes_ensure() -> None:
    """Create every chat index (idempotent)."""
    Conversation.ensure_indexes()
    Message.ensure_indexes()
