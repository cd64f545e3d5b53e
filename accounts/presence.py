"""Presence in Redis: one key per online user with a TTL that the socket's heartbeat
refreshes. Nothing here is the only copy of anything: a Redis restart only makes users look
offline until their next heartbeat, and a crashed server process leaves no ghosts because
keys it can no longer refresh simply expire."""

import time
from collections.abc import Iterable
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


# --- Busy: in a ringing or active call ------------------------------------------------------
# The value is the call's id, so that clearing after one call ends never wipes the mark a
# newer call has set. The key lives PRESENCE_TTL_SECONDS and each live socket's activity
# extends it (presence_socket_alive): a mark whose clearing was lost fades with the user.

# Delete the key only while it still holds this call's id (atomic in Redis).
_CLEAR_IF_CALL = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


def presence_busy_set(*, user_ids: Iterable[int], call_id: int) -> None:
    """Mark the users busy with this call."""
    pipe = get_redis_connection("default").pipeline(transaction=False)
    for user_id in user_ids:
        pipe.set(_busy_key(user_id), call_id, ex=settings.PRESENCE_TTL_SECONDS)
    pipe.execute()


def presence_busy_clear(*, user_ids: Iterable[int], call_id: int) -> None:
    """Unmark the users, where the mark is still this call's."""
    redis = get_redis_connection("default")
    pipe = redis.pipeline(transaction=False)
    for user_id in user_ids:
        pipe.eval(_CLEAR_IF_CALL, 1, _busy_key(user_id), str(call_id))
    pipe.execute()


# --- Sockets: which of a user's sockets are alive, and since when none is ------------------
# One sorted set per user: a member per socket, scored with the time (epoch seconds) until
# which that socket counts as alive. Connect and activity push it PRESENCE_TTL_SECONDS ahead;
# a clean close sets it to the closing moment. So the highest score is either in the future
# (the user has a live socket) or the moment the user's last socket went away, and a socket
# whose process crashed stops counting PRESENCE_TTL_SECONDS after its last sign of life,
# without anyone having to clean up after it.

# The member that stands for "no record at all" (never connected, or Redis lost the set).
_NO_RECORD = "no-record"


def _sockets_key(user_id: int) -> str:
    return f"{settings.REDIS_PREFIX}:presence:sockets:{user_id}"


def _record_seconds() -> int:
    # How long the set outlives its last write: longer than a crashed socket takes to stop
    # counting plus the calls' disconnect grace, so whoever checks a call still finds when
    # its party went away.
    return settings.PRESENCE_TTL_SECONDS + settings.CALL_DISCONNECT_GRACE_SECONDS + 3600


def presence_socket_alive(*, user_id: int, socket_id: str) -> None:
    """The socket is open and active: it counts as alive for PRESENCE_TTL_SECONDS more. Also
    keeps the user's busy mark from fading while they are in a call."""
    now = time.time()
    key = _sockets_key(user_id)
    pipe = get_redis_connection("default").pipeline(transaction=False)
    pipe.zadd(key, {socket_id: now + settings.PRESENCE_TTL_SECONDS})
    pipe.zremrangebyscore(key, "-inf", now - _record_seconds())  # sockets long gone
    pipe.expire(key, _record_seconds())
    pipe.expire(_busy_key(user_id), settings.PRESENCE_TTL_SECONDS)
    pipe.execute()


def presence_socket_closed(*, user_id: int, socket_id: str) -> None:
    """The socket closed: it stops counting now (its member remembers when)."""
    key = _sockets_key(user_id)
    pipe = get_redis_connection("default").pipeline(transaction=False)
    pipe.zadd(key, {socket_id: time.time()})
    pipe.expire(key, _record_seconds())
    pipe.execute()


def presence_has_socket(*, user_id: int) -> bool:
    """True while at least one of the user's sockets is alive."""
    redis = get_redis_connection("default")
    return bool(redis.zcount(_sockets_key(user_id), f"({time.time()}", "+inf"))


def presence_gone_since(*, user_ids: Iterable[int], now: float) -> dict[int, float | None]:
    """For each user, the moment (epoch seconds) their last socket went away, or None while
    one is alive at `now`. A user without any record counts as gone from the first time
    they are asked about (a record is written then), so losing Redis never makes everyone
    look gone for long."""
    ids = list(dict.fromkeys(user_ids))
    redis = get_redis_connection("default")
    pipe = redis.pipeline(transaction=False)
    for user_id in ids:
        pipe.zrange(_sockets_key(user_id), -1, -1, withscores=True)
    latest = dict(zip(ids, pipe.execute(), strict=True))
    missing = [user_id for user_id, top in latest.items() if not top]
    if missing:
        for user_id in missing:
            # NX: of two concurrent askers, the first one's moment stands.
            pipe.zadd(_sockets_key(user_id), {_NO_RECORD: now}, nx=True)
            pipe.expire(_sockets_key(user_id), _record_seconds())
            pipe.zrange(_sockets_key(user_id), -1, -1, withscores=True)
        replies = pipe.execute()
        latest.update(zip(missing, replies[2::3], strict=True))
    since: dict[int, float | None] = {}
    for user_id, top in latest.items():
        until = top[0][1]
        since[user_id] = None if until > now else until
    return since
