"""Shapes of the gifts API (API.md, Gifts and WebSocket `gift:sent`): the catalog, the gift
transaction, and what comes in over REST and the socket. They check shapes only (no
database): the service enforces the rules."""

from typing import Any

from rest_framework import serializers

from accounts.models import User
from gifts.models import Gift, GiftSend
from videochat.views import IDEMPOTENCY_KEY_MAX_LENGTH

# --- Out ------------------------------------------------------------------------------------


class GiftSerializer(serializers.ModelSerializer[Gift]):
    """An item of the catalog."""

    class Meta:
        model = Gift
        fields = ["id", "name", "cost_coins", "icon"]
        read_only_fields = fields
        extra_kwargs = {
            "cost_coins": {"help_text": "What sending it costs the sender, in whole coins."},
        }


class GiftPartySerializer(serializers.ModelSerializer[User]):
    """Enough of a sender or receiver to show who gave what, without another request."""

    class Meta:
        model = User
        fields = ["id", "name", "gender", "role"]
        read_only_fields = fields


class GiftSendSerializer(serializers.ModelSerializer[GiftSend]):
    """The gift transaction: one gift sent (the REST answer, the socket ack and the push)."""

    gift = GiftSerializer(read_only=True)
    sender = GiftPartySerializer(read_only=True)
    receiver = GiftPartySerializer(read_only=True)
    call_id = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="The call both were in when the gift was sent; null outside a call.",
    )

    class Meta:
        model = GiftSend
        fields = ["id", "gift", "sender", "receiver", "coins_spent", "call_id", "created_at"]
        read_only_fields = fields
        extra_kwargs = {
            "coins_spent": {"help_text": "Coins the sender paid: the gift's cost when sent."},
        }


# --- In -------------------------------------------------------------------------------------


class GiftSendIn(serializers.Serializer[dict[str, Any]]):
    """POST /gifts/send (the Idempotency-Key comes as a header)."""

    to = serializers.IntegerField(min_value=1, help_text="The receiver's user id.")
    gift_id = serializers.IntegerField(min_value=1, help_text="An active gift of the catalog.")
    call_id = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="An active call between the sender and the receiver, when the gift is "
        "sent during one: both parties then get `gift:sent`.",
    )


class GiftSendEventIn(GiftSendIn):
    """The socket's `gift:sent`: a socket has no headers, so `client_id` names the attempt
    (a resent frame with the same `client_id` sends one gift)."""

    client_id = serializers.CharField(max_length=IDEMPOTENCY_KEY_MAX_LENGTH)
