"""WebSocket side of presence (docs/presence.md): the `presence:update` heartbeat and the
socket hooks. Every open socket counts as alive while it is active; the user is online while
one of theirs is, and busy while in a call. The hooks are the only place sockets report."""

from typing import Any

from django.conf import settings
from rest_framework import serializers

from accounts.presence import presence_socket_alive, presence_socket_closed
from videochat.gateway import (
    EventContext,
    blocking,
    event,
    on_activity,
    on_connect,
    on_disconnect,
)

# The status this socket last announced; activity keeps it instead of resetting to online.
STATUS_KEY = "accounts.presence_status"

socket_alive = blocking(presence_socket_alive)
socket_closed = blocking(presence_socket_closed)


class PresenceUpdateIn(serializers.Serializer[dict[str, Any]]):
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
    """The client's heartbeat (at least every 30 s). lat/lon place the user for nearby
    search until they go offline (the profile's location is not changed)."""
    ctx.state[STATUS_KEY] = data["status"]
    location = (data["lat"], data["lon"]) if "lat" in data else None
    await socket_alive(
        user_id=ctx.user_id, socket_id=ctx.channel_name, status=data["status"], location=location
    )
    return {"status": data["status"], "ttl": settings.PRESENCE_TTL_SECONDS}


@on_connect
async def presence_socket_opened(ctx: EventContext) -> None:
    user = ctx.user
    # The profile's location places a user who has none on the map yet; a fresher one sent
    # by another device's presence:update stays.
    location = (user.lat, user.lon) if user.lat is not None and user.lon is not None else None
    await socket_alive(
        user_id=ctx.user_id,
        socket_id=ctx.channel_name,
        location=location,
        location_if_unset=True,
    )


@on_activity
async def presence_socket_active(ctx: EventContext) -> None:
    await socket_alive(
        user_id=ctx.user_id,
        socket_id=ctx.channel_name,
        status=ctx.state.get(STATUS_KEY, "online"),
    )


@on_disconnect
async def presence_socket_gone(ctx: EventContext) -> None:
    await socket_closed(user_id=ctx.user_id, socket_id=ctx.channel_name)
