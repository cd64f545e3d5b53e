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
from videochat.redis import redis_script

# Online users looked at per draw, and draws per request: with fewer online users than a
# draw, one draw sees them all.
SAMPLE = 200
DRAWS = 3
# The previous match is remembered this long (a day: "twice in a row" spans a session).
LAST_MATCH_SECONDS = 86400


def _reserved_prefix() -> str:
    return f"{settings.REDIS_PREFIX}:match:reserved:"


def _reserved_key(user_id: int) -> str:
    return f"{_reserved_prefix()}{user_id}"


def _last_key(user_id: int) -> str:
    return f"{settings.REDIS_PREFIX}:match:last:{user_id}"


# Reserve the candidate for the caller (SET NX with a TTL: of two callers at once, one wins)
# and remember them as the caller's last match, releasing the caller's previous reservation
# if they still hold it: a caller holds one at a time, so nobody can hoard every host by
# asking repeatedly. One script, so that two requests of the same caller at once can't both
# keep theirs. The previous reservation's key is built here from the last match (one Redis
# server, no cluster). KEYS: the candidate's reservation, the caller's last match. ARGV:
# caller, candidate, reserve seconds, last-match seconds, reservation key prefix.
_RESERVE = """
if not redis.call('set', KEYS[1], ARGV[1], 'nx', 'ex', ARGV[3]) then return 0 end
local previous = redis.call('get', KEYS[2])
if previous and previous ~= ARGV[2] then
  local held = ARGV[5] .. previous
  if redis.call('get', held) == ARGV[1] then redis.call('del', held) end
end
redis.call('set', KEYS[2], ARGV[2], 'ex', ARGV[4])
return 1
"""


def match_default_role(*, user: User) -> str:
    """Whom a caller is matched with when they don't say: hosts, the side that takes calls;
    a host is matched with users instead."""
    return Role.USER if user.is_host else Role.HOST


def match_find(*, user: User, role: str | None = None, gender: str | None = None) -> User:
    """One user who is online and not busy, not reserved for someone else, not blocked
    either way, of `role` (default: match_default_role) and `gender` if given, and not the
    caller's previous match. They are reserved for the caller (_RESERVE), whose previous
    reservation is released, and remembered as the caller's last match. NotFound when
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
            keys = [_reserved_key(candidate.pk), _last_key(user.pk)]
            args: list[int | str] = [
                user.pk,
                candidate.pk,
                settings.MATCH_RESERVE_SECONDS,
                LAST_MATCH_SECONDS,
                _reserved_prefix(),
            ]
            if redis_script(_RESERVE)(keys=keys, args=args):
                return candidate
        if len(sample) < SAMPLE:
            break
    raise NotFound("Nobody is available right now; try again shortly.")
