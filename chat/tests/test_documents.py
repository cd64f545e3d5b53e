"""The chat indexes exist after set-up (`manage.py ensure_mongo_indexes`), not after the
first request."""

import pytest
from django.core.management import call_command
from mongoengine.connection import get_db


@pytest.mark.usefixtures("mongo_db")
def test_ensure_mongo_indexes_creates_the_indexes_queries_need() -> None:
    db = get_db()
    for name in ("chat_messages", "chat_conversations"):
        db[name].drop()
    call_command("ensure_mongo_indexes")
    call_command("ensure_mongo_indexes")  # idempotent

    messages = db["chat_messages"].index_information()
    assert messages["message_client_id"]["key"] == [("sender_id", 1), ("client_id", 1)]
    assert messages["message_client_id"]["unique"] is True
    assert messages["message_history"]["key"][:2] == [("conversation_id", 1), ("created_at", -1)]
    assert "message_inbox" in messages

    conversations = db["chat_conversations"].index_information()
    assert conversations["conversation_key"]["unique"] is True
    assert conversations["conversation_recent"]["key"][:2] == [
        ("participants", 1),
        ("updated_at", -1),
    ]
