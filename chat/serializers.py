"""Shapes of the chat doors. They check shapes only (no database): the services enforce
the rules (recipient exists, not blocked, text after trimming)."""

from typing import Any

from rest_framework import serializers

OBJECT_ID = r"^[0-9a-f]{24}$"


class MessageSendIn(serializers.Serializer[Any]):
    to = serializers.IntegerField(min_value=1)
    # Trimmed and length-checked by the service (1..4,000 after trimming); the raw
    # limit only keeps absurd frames out.
    text = serializers.CharField(max_length=8000, trim_whitespace=False, allow_blank=True)
    client_id = serializers.CharField(max_length=64)


class MessageDeliveredIn(serializers.Serializer[Any]):
    message_ids = serializers.ListField(
        child=serializers.RegexField(OBJECT_ID), min_length=1, max_length=200
    )


class ConversationReadIn(serializers.Serializer[Any]):
    conversation_id = serializers.CharField(max_length=64)


class TypingIn(serializers.Serializer[Any]):
    to = serializers.IntegerField(min_value=1)
    is_typing = serializers.BooleanField(default=True)


class LastMessageSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    sender_id = serializers.IntegerField()
    text = serializers.CharField()
    created_at = serializers.DateTimeField()


class MessageSerializer(serializers.Serializer[Any]):
    """Documents the message object (built by `chat.selectors.message_data`)."""

    id = serializers.CharField()
    conversation_id = serializers.CharField()
    sender_id = serializers.IntegerField()
    receiver_id = serializers.IntegerField()
    text = serializers.CharField()
    client_id = serializers.CharField()
    status = serializers.ChoiceField(choices=["sent", "delivered", "read"])
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    read_at = serializers.DateTimeField(allow_null=True)


class ConversationSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    participants = serializers.ListField(child=serializers.IntegerField())
    last_message = LastMessageSerializer(allow_null=True)
    updated_at = serializers.DateTimeField()
    unread_count = serializers.IntegerField()


class MessagePageSerializer(serializers.Serializer[Any]):
    results = MessageSerializer(many=True)
    next = serializers.CharField(allow_null=True)


class ConversationPageSerializer(serializers.Serializer[Any]):
    results = ConversationSerializer(many=True)
    next = serializers.CharField(allow_null=True)
