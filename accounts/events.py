"""WebSocket handlers of accounts: presence. The socket's heartbeat (`presence:update`) and
its mere activity keep the user's presence key alive in Redis."""

from typing import Any

from django.conf import settings
from rest_framework import serializers

from accounts.presence import presence_refresh
from videochat.gateway import EventContext, blocking, event, on_activity, on_connect

# The status this socket last announced; activity keeps it instead of resetting to online.
STATUS_KEY = "accounts.presence_status"

refresh = blocking(presence_refresh)


class PresenceUpdateIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=["online", "away"], default="online")
    lat = serializers.FloatField(min_value=-90, max_value=90, required=False)
    lon = serializers.FloatField(min_value=-180, max_value=180, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("lat" in attrs) != ("lon" in attrs):
            missing = "lon" if "lat" in attrs else "lat"
            raise serializers.ValidationError({missing: ["Send lat and lon together."]})
        return attrs


@event("presence:update", data=PresenceUpdateIn)
async def presence_update(ctx: EventContext, data: dict[str, Any]) -> dict[str, Any]:
    """The client's heartbeat (at least every 30 s). lat/lon are validated but not
    stored: a user's location is the profile's (PATCH /api/v1/me)."""
    ctx.state[STATUS_KEY] = data["status"]
    await refresh(user_id=ctx.user_id, status=data["status"])
    return {"status": data["status"], "ttl": settings.PRESENCE_TTL_SECONDS}


@on_connect
@on_activity
async def presence_keep_alive(ctx: EventContext) -> None:
    await refresh(user_id=ctx.user_id, status=ctx.state.get(STATUS_KEY, "online"))
