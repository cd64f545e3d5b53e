"""Matchmaking (API.md, POST /match): hand one available user to the caller, reserved for
MATCH_RESERVE_SECONDS so that nobody else is handed them meanwhile, and never the caller's
previous match again right away."""

import random

from django.conf import settings
from django_redis import get_redis_connection

from accounts.discovery import visible_candidates
from accounts.models import Role, User
from accounts.presence import presence_online_sample, presence_statuses
from videochat.errors import NotFound
from videochat.ratelimit import rate_limit

# Online users looked at per draw, and draws per request: with fewer online users than a
# draw, one draw sees them all.
SAMPLE = 200
DRAWS = 3
# The previous match is remembered this long (a day: "twice in a row" spans a session).
LAST_MATCH_SECONDS = 86400


def _reserved_key(user_id: int) -> str:
    return f"{settings.REDIS_PREFIX}:match:reserved:{user_id}"


def _last_key(user_id: int) -> str:
    return f"{settings.REDIS_PREFIX}:match:last:{user_id}"


def match_default_role(*, user: User) -> str:
    """Whom a caller is matched with when they don't say: hosts, the side that takes calls;
    a host is matched with users instead."""
    return Role.USER if user.is_host else Role.HOST


def match_find(*, user: User, role: str | None = None, gender: str | None = None) -> User:
    """One user who is online and not busy, not reserved for someone else, not blocked
    either way, of `role` (default: match_default_role) and `gender` if given, and not the
    caller's previous match. They are reserved for the caller (SET NX with a TTL: of two
    callers at once, one wins) and remembered as the caller's last match. NotFound when
    nobody is available. At most MATCH_RATE per caller (RateLimited)."""
    rate_limit(action="match", user_id=user.pk, rate=settings.MATCH_RATE, what="match requests")
    redis = get_redis_connection("default")
    role = role or match_default_role(user=user)
    last = redis.get(_last_key(user.pk))
    previous = int(last) if last is not None else None
    for _ in range(DRAWS):
        sample = presence_online_sample(count=SAMPLE)
        statuses = presence_statuses(user_ids=sample)
        free = [uid for uid in sample if statuses[uid] == "online" and uid != previous]
        candidates = list(
            visible_candidates(viewer=user, user_ids=free, role=role, gender=gender).values()
        )
        random.shuffle(candidates)
        for candidate in candidates:
            reserved = redis.set(
                _reserved_key(candidate.pk),
                user.pk,
                nx=True,
                ex=settings.MATCH_RESERVE_SECONDS,
            )
            if reserved:
                redis.set(_last_key(user.pk), candidate.pk, ex=LAST_MATCH_SECONDS)
                return candidate
        if len(sample) < SAMPLE:
            break
    raise NotFound("Nobody is available right now; try again shortly.")
