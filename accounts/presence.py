"""Presence in Redis: one key per online user with a TTL that the socket's heartbeat
refreshes. Nothing here is the only copy of anything: a Redis restart only makes users look
offline until their next heartbeat, and a crashed server process leaves no ghosts because
keys it can no longer refresh simply expire."""

from typing import Literal

from django.conf import settings
from django_redis import get_redis_connection

PresenceStatus = Literal["online", "away", "busy", "offline"]


def _key(user_id: int) -> str:
    return f"{settings.REDIS_PREFIX}:presence:{user_id}"


def _busy_key(user_id: int) -> str:
    return f"{settings.REDIS_PREFIX}:presence:busy:{user_id}"


def presence_refresh(*, user_id: int, status: Literal["online", "away"] = "online") -> None:
    """Mark the user present for the next PRESENCE_TTL_SECONDS."""
    get_redis_connection("default").set(_key(user_id), status, ex=settings.PRESENCE_TTL_SECONDS)


def presence_status(*, user_id: int) -> PresenceStatus:
    """`busy` while in a call, `online` while a socket heartbeats, else `offline`.
    (`away` is reported to clients as `online`: the user is reachable.)"""
    redis = get_redis_connection("default")
    present, busy = redis.mget([_key(user_id), _busy_key(user_id)])
    if present is None:
        return "offline"
    return "busy" if busy is not None else "online"
