"""Shapes of the calls API (API.md, Calls and WebSocket): the call object, what comes in
over REST and the socket, and the ICE servers."""

import json
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User
from calls.models import Call, EndReason

# --- Out ------------------------------------------------------------------------------------


class CallPartySerializer(serializers.ModelSerializer[User]):
    """Enough of a caller or callee to show who is calling without another request."""

    class Meta:
        model = User
        fields = ["id", "name", "gender", "role"]
        read_only_fields = fields


class CallSerializer(serializers.ModelSerializer[Call]):
    caller = CallPartySerializer(read_only=True)
    callee = CallPartySerializer(read_only=True)
    duration_seconds = serializers.IntegerField(
        read_only=True, help_text="Seconds talked: from accept to the end (to now while active)."
    )
    end_reason = serializers.SerializerMethodField(
        help_text="Why the call ended; null while open and for rejected calls."
    )

    class Meta:
        model = Call
        fields = [
            "id",
            "caller",
            "callee",
            "status",
            "rate_per_minute",
            "created_at",
            "started_at",
            "ended_at",
            "duration_seconds",
            "periods_charged",
            "total_coins",
            "end_reason",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "rate_per_minute": {"help_text": "Coins per billed minute, fixed when the call rang."},
            "periods_charged": {"help_text": "Billed minutes so far."},
            "total_coins": {"help_text": "Coins the caller paid for this call so far."},
        }

    @extend_schema_field(serializers.ChoiceField(choices=EndReason.choices, allow_null=True))
    def get_end_reason(self, call: Call) -> str | None:
        return call.end_reason or None


class IceServerSerializer(serializers.Serializer[Any]):
    """One entry of RTCConfiguration.iceServers."""

    urls = serializers.ListField(child=serializers.CharField())
    username = serializers.CharField(
        required=False, help_text="TURN only: `<expiry unix time>:<user id>`."
    )
    credential = serializers.CharField(
        required=False, help_text="TURN only: base64 HMAC-SHA1 of `username` (coturn REST)."
    )


class IceServersSerializer(serializers.Serializer[Any]):
    ice_servers = IceServerSerializer(many=True)
    ttl = serializers.IntegerField(help_text="Seconds the TURN credentials stay valid.")


# --- In -------------------------------------------------------------------------------------


class CallCreateSerializer(serializers.Serializer[Any]):
    """POST /calls and the socket's `call:invite`."""

    callee_id = serializers.IntegerField(min_value=1)


class CallAnswerIn(serializers.Serializer[Any]):
    call_id = serializers.IntegerField(min_value=1)
    accept = serializers.BooleanField()


class CallEndIn(serializers.Serializer[Any]):
    call_id = serializers.IntegerField(min_value=1)


SIGNAL_KINDS = ["offer", "answer", "candidate", "restart"]
# Far above a real SDP (a few KB) or candidate (a few hundred bytes), far below what a
# relay should carry for a client.
MAX_SIGNAL_PAYLOAD_BYTES = 16 * 1024


class CallSignalIn(serializers.Serializer[Any]):
    """`payload` is relayed as sent: an object (RTCSessionDescriptionInit for offer and
    answer, RTCIceCandidateInit for candidate) or a string. `restart` may omit it."""

    call_id = serializers.IntegerField(min_value=1)
    kind = serializers.ChoiceField(choices=SIGNAL_KINDS)
    payload = serializers.JSONField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "payload" not in attrs:
            if attrs["kind"] != "restart":
                raise serializers.ValidationError({"payload": ["This field is required."]})
            attrs["payload"] = {}
        payload = attrs["payload"]
        if not isinstance(payload, dict | str):
            raise serializers.ValidationError({"payload": ["Must be an object or a string."]})
        size = len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())
        if size > MAX_SIGNAL_PAYLOAD_BYTES:
            raise serializers.ValidationError(
                {"payload": [f"At most {MAX_SIGNAL_PAYLOAD_BYTES} bytes of JSON."]}
            )
        return attrs
