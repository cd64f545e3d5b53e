"""Presence in Redis (docs/presence.md): who is online, busy or offline, where online users
are, and the announcement of every change to the user's conversation partners.

A user is online while one of their sockets is alive: open, and active within
PRESENCE_TTL_SECONDS. Every write goes through one Lua script per change (socket alive,
socket closed, busy set or cleared, sweep), which keeps the per-user records, the indexes
of online users and the last announced status consistent in one step, and tells whether
the status the partners know changed. Nothing here is the only copy of anything: a Redis
restart makes users look offline until their next heartbeat, and a crashed server process
leaves no ghosts because what it can no longer refresh expires."""

import time
from collections.abc import Iterable
from typing import Any, Literal

from django.conf import settings
from django_redis import get_redis_connection

from accounts import presence_scripts
from accounts.selectors import blocked_either_way, is_blocked_between
from chat.selectors import conversation_partner_ids
from videochat.gateway.notify import notify_many
from videochat.redis import redis_script

PresenceStatus = Literal["online", "busy", "offline"]

# Keys. Per user: `presence:<id>` (exists while the user is online: the status the client
# announced, expiring when the last live socket stops counting), `presence:busy:<id>` (the id
# of the call the user is in), `presence:sockets:<id>` (see "Sockets" below) and
# `presence:announced:<id>` (the status partners were last told; absent means offline).
# Indexes of online users: `presence:online` (scored by user id, for paging in a stable
# order), `presence:until` (scored by when the user stops counting, for the sweep) and
# `presence:geo` (positions, for nearby search).


def _key(user_id: int) -> str:
    return f"{settings.REDIS_PREFIX}:presence:{user_id}"


def _busy_key(user_id: int) -> str:
    return f"{settings.REDIS_PREFIX}:presence:busy:{user_id}"


def _sockets_key(user_id: int) -> str:
    return f"{settings.REDIS_PREFIX}:presence:sockets:{user_id}"


def _announced_key(user_id: int) -> str:
    return f"{settings.REDIS_PREFIX}:presence:announced:{user_id}"


def _online_key() -> str:
    return f"{settings.REDIS_PREFIX}:presence:online"


def _until_key() -> str:
    return f"{settings.REDIS_PREFIX}:presence:until"


def _geo_key() -> str:
    return f"{settings.REDIS_PREFIX}:presence:geo"


def _redis() -> Any:
    # django-redis hands out a redis-py client; its replies are typed loosely anyway.
    return get_redis_connection("default")


def _record_seconds() -> int:
    # How long a user's socket record outlives its last write: longer than a crashed socket
    # takes to stop counting plus the calls' disconnect grace, so whoever checks a call still
    # finds when its party went away. The announced status lives as long, so it can't vanish
    # (and later changes go unannounced) while the user is still around.
    return settings.PRESENCE_TTL_SECONDS + settings.CALL_DISCONNECT_GRACE_SECONDS + 3600


# Redis GEO indexes latitudes within ±85.05112878° only (Web Mercator); the poles are
# indexed at that edge.
GEO_LAT_LIMIT = 85.05112878


def geo_lat(lat: float) -> float:
    return max(-GEO_LAT_LIMIT, min(GEO_LAT_LIMIT, lat))


# --- Statuses (presence_scripts.STATUS_FUNCTIONS defines them), and their announcement ----


def presence_statuses(*, user_ids: Iterable[int]) -> dict[int, PresenceStatus]:
    """Each user's status: `busy` in a ringing or active call, `online` while a socket is
    alive, else `offline` (a user without a live socket is offline even if a call still
    waits for them)."""
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return {}
    keys = [key for user_id in ids for key in (_key(user_id), _busy_key(user_id))]
    statuses = redis_script(presence_scripts.STATUSES)(keys=keys)
    return {user_id: status.decode() for user_id, status in zip(ids, statuses, strict=True)}


def presence_status(*, user_id: int) -> PresenceStatus:
    """One user's status (see presence_statuses)."""
    return presence_statuses(user_ids=[user_id])[user_id]


def presence_has_socket(*, user_id: int) -> bool:
    """True while at least one of the user's sockets is alive: the user is reachable."""
    return presence_status(user_id=user_id) != "offline"


def _announce(changes: Iterable[tuple[int, bytes | None]]) -> None:
    """Push `presence:update` to the partners of each user whose announced status changed
    (`None`: no change), except partners with a block either way. The partners come from
    MongoDB and the blocks from PostgreSQL (one query for all), so only real changes read
    them."""
    changed = [(user_id, status.decode()) for user_id, status in changes if status is not None]
    partners = {user_id: conversation_partner_ids(user_id=user_id) for user_id, _ in changed}
    hidden = blocked_either_way(user_ids=[user_id for user_id, ids in partners.items() if ids])
    notify_many(
        [
            (partner, "presence:update", {"user_id": user_id, "status": status})
            for user_id, status in changed
            for partner in partners[user_id]
            if partner not in hidden.get(user_id, ())
        ]
    )


def presence_block_changed(*, user_ids: tuple[int, int]) -> None:
    """A block between the two users was made or lifted: if they have a conversation, each
    is told the other's status as it now looks to them (offline while a block either way
    stands, the real one again once none does), so a client never keeps showing a status
    that pushes will no longer update. Users who are offline anyway are not announced."""
    first, second = user_ids
    if second not in conversation_partner_ids(user_id=first):
        return
    blocked = is_blocked_between(first, second)
    statuses = presence_statuses(user_ids=user_ids)
    notify_many(
        [
            (to, "presence:update", {"user_id": about, "status": "offline" if blocked else status})
            for about, to in ((first, second), (second, first))
            if (status := statuses[about]) != "offline"
        ]
    )


# --- Sockets: which of a user's sockets are alive, and since when none is ------------------
# One sorted set per user: a member per socket, scored with the time (epoch seconds) until
# which that socket counts as alive. Connect and activity push it PRESENCE_TTL_SECONDS ahead;
# a clean close sets it to the closing moment. So the highest score is either in the future
# (the user is online until then) or the moment the user's last socket went away, and a
# socket whose process crashed stops counting PRESENCE_TTL_SECONDS after its last sign of
# life, without anyone having to clean up after it: the user key expires at that same
# moment, and the sweep later drops the user from the indexes and announces it.

# The member that stands for "no record at all" (never connected, or Redis lost the set).
_NO_RECORD = "no-record"

Location = tuple[float, float]  # (lat, lon)


def _settle(
    pipe: Any,
    *,
    user_id: int,
    now: float | None = None,
    socket_id: str = "",
    until: float | None = None,
    close_all: bool = False,
    status: str = "",
    geo: Literal["", "set", "nx", "del"] = "",
    location: Location | None = None,
) -> None:
    """Queue on `pipe` the change of one user (presence_scripts.SETTLE): record the socket
    (alive `until`; None: closed now), or close all of the user's (`close_all`), then bring
    the user key, the indexes and the announced status in line. `now` is Redis's clock
    unless given."""
    lat, lon = location or (0.0, 0.0)
    keys = [
        _sockets_key(user_id),
        _key(user_id),
        _busy_key(user_id),
        _announced_key(user_id),
        _online_key(),
        _until_key(),
        _geo_key(),
    ]
    args: list[str | int | float] = [
        user_id,
        "" if now is None else repr(now),
        socket_id,
        "" if until is None else repr(until),
        status,
        _record_seconds(),
        settings.PRESENCE_TTL_SECONDS,
        geo,
        lon,
        geo_lat(lat),
        "1" if close_all else "",
    ]
    redis_script(presence_scripts.SETTLE)(keys=keys, args=args, client=pipe)


def presence_socket_alive(
    *,
    user_id: int,
    socket_id: str,
    status: Literal["online", "away"] = "online",
    location: Location | None = None,
    location_if_unset: bool = False,
) -> None:
    """The socket is open and active: it counts as alive for PRESENCE_TTL_SECONDS more, and
    so does its user (with `status` as the client announced it; `away` is reported as
    online). `location` moves the user on the map, or only places them there if they have
    no position yet (`location_if_unset`: a profile's location must not override a fresher
    one from another device). Also keeps the user's busy mark from fading while they are in
    a call, and announces the user if this brings them online."""
    geo: Literal["", "set", "nx"] = ""
    if location is not None:
        geo = "nx" if location_if_unset else "set"
    pipe = _redis().pipeline(transaction=False)
    _settle(
        pipe,
        user_id=user_id,
        socket_id=socket_id,
        until=time.time() + settings.PRESENCE_TTL_SECONDS,
        status=status,
        geo=geo,
        location=location,
    )
    _announce([(user_id, pipe.execute()[0])])


def presence_socket_closed(*, user_id: int, socket_id: str) -> None:
    """The socket closed: it stops counting now (its member remembers when). If it was the
    user's last live socket, the user goes offline and is announced so."""
    pipe = _redis().pipeline(transaction=False)
    _settle(pipe, user_id=user_id, socket_id=socket_id)
    _announce([(user_id, pipe.execute()[0])])


def presence_user_offline(*, user_id: int) -> None:
    """Every socket of the user stops counting now, as if all had closed: the user goes
    offline at once (and is announced so). For a user whose sockets are being cut off (a
    deactivated account), so that nobody finds them online while the closes travel."""
    pipe = _redis().pipeline(transaction=False)
    _settle(pipe, user_id=user_id, close_all=True)
    _announce([(user_id, pipe.execute()[0])])


def presence_location_set(*, user_id: int, location: Location | None) -> None:
    """The user's location changed (their profile): move them on the map if they are
    online; `None` takes them off it."""
    pipe = _redis().pipeline(transaction=False)
    _settle(pipe, user_id=user_id, geo="set" if location else "del", location=location)
    _announce([(user_id, pipe.execute()[0])])


def presence_sweep(*, now: float | None = None, batch: int = 500) -> int:
    """Users whose sockets all stopped counting without closing (their server process died)
    leave the indexes and are announced offline. Returns how many; safe to run twice at
    once (the announcement is a compare-and-set)."""
    now = time.time() if now is None else now
    redis = _redis()
    swept = 0
    while True:
        due = [int(uid) for uid in redis.zrangebyscore(_until_key(), "-inf", now, 0, batch)]
        if not due:
            return swept
        pipe = redis.pipeline(transaction=False)
        for user_id in due:
            _settle(pipe, user_id=user_id, now=now)
        _announce(zip(due, pipe.execute(), strict=True))
        swept += len(due)


def presence_online_ids(*, below: int | None, count: int) -> list[int]:
    """Up to `count` ids from the index of online users, highest first, below the id
    `below`. The index may still hold a few users who just went offline by TTL (until the
    sweep): check presence_statuses before showing anyone."""
    top = f"({below}" if below is not None else "+inf"
    ids = _redis().zrange(_online_key(), top, "-inf", desc=True, byscore=True, offset=0, num=count)
    return [int(user_id) for user_id in ids]


def presence_online_sample(*, count: int) -> list[int]:
    """Up to `count` distinct ids drawn at random from the index of online users (all of
    them when there are fewer); check presence_statuses before handing anyone out."""
    return [int(user_id) for user_id in _redis().zrandmember(_online_key(), count) or []]


def presence_nearby(
    *, lat: float, lon: float, radius_km: float, count: int
) -> list[tuple[int, float]]:
    """Up to `count` (user id, distance in km) of the users on the map within `radius_km`
    of the point, nearest first. Like the other index, check presence_statuses."""
    hits = _redis().geosearch(
        _geo_key(),
        longitude=lon,
        latitude=geo_lat(lat),
        radius=radius_km,
        unit="km",
        sort="ASC",
        count=count,
        withdist=True,
    )
    return [(int(member), distance) for member, distance in hits]


def presence_gone_since(*, user_ids: Iterable[int], now: float) -> dict[int, float | None]:
    """For each user, the moment (epoch seconds) their last socket went away, or None while
    one is alive at `now`. A user without any record counts as gone from the first time
    they are asked about (a record is written then), so losing Redis never makes everyone
    look gone for long."""
    ids = list(dict.fromkeys(user_ids))
    pipe = _redis().pipeline(transaction=False)
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


# --- Busy: in a ringing or active call ------------------------------------------------------
# The value is the call's id, so that clearing after one call ends never wipes the mark a
# newer call has set. The key lives PRESENCE_TTL_SECONDS and each live socket's activity
# extends it (presence_socket_alive): a mark whose clearing was lost fades with the user.


def _busy_mark(user_ids: Iterable[int], call_id: int, mode: Literal["set", "clear"]) -> None:
    ids = list(dict.fromkeys(user_ids))
    pipe = _redis().pipeline(transaction=False)
    for user_id in ids:
        keys = [_busy_key(user_id), _key(user_id), _announced_key(user_id)]
        args = [call_id, settings.PRESENCE_TTL_SECONDS, mode, _record_seconds()]
        redis_script(presence_scripts.BUSY)(keys=keys, args=args, client=pipe)
    _announce(zip(ids, pipe.execute(), strict=True))


def presence_busy_set(*, user_ids: Iterable[int], call_id: int) -> None:
    """Mark the users busy with this call (and announce them busy)."""
    _busy_mark(user_ids, call_id, "set")


def presence_busy_clear(*, user_ids: Iterable[int], call_id: int) -> None:
    """Unmark the users, where the mark is still this call's (and announce them online)."""
    _busy_mark(user_ids, call_id, "clear")
