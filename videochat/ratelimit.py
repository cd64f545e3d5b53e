"""Rate limits of actions (messages, typing, matches, call invites, refused webhooks, ...),
counted in the shared Redis so that every server process and worker counts together. A
limit over its count raises `videochat.errors.RateLimited`, which both doors answer as 429
`rate_limited` with the whole seconds to wait (REST: also the `Retry-After` header).

    rate_limit(action="chat:message", user_id=user.pk, rate=(20, 10), what="messages")
    rate_limit_hit(key=f"webhook:refused:{ip}", limit=30, window=60, message="...")

DRF's throttles (accounts/throttles.py) guard whole endpoints by client address; this is
for what a service decides to count, per user or per anything else."""

from django.conf import settings

from videochat.errors import RateLimited
from videochat.redis import redis_script

# (actions, window in seconds), as videochat.env.env_rate reads them.
Rate = tuple[int, int]

# Count one action and answer [count, milliseconds left in the window]; the first action
# starts the window (a key without a TTL gets one too, so no counter outlives its window).
_COUNT_IN_WINDOW = """
local count = redis.call('incr', KEYS[1])
local ttl = redis.call('pttl', KEYS[1])
if ttl < 0 then
  redis.call('pexpire', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


def rate_limit_hit(*, key: str, limit: int, window: int, message: str) -> None:
    """Count one action under `key` (prefixed with REDIS_PREFIX): at most `limit` per
    `window` seconds, the window starting at the first one. Over the limit raises
    RateLimited with `message` and the time left in the window. One script call: a
    pipeline of SET NX, INCR and PTTL cost twice the CPU of the script."""
    count, ttl_ms = redis_script(_COUNT_IN_WINDOW)(
        keys=[f"{settings.REDIS_PREFIX}:{key}"], args=[window * 1000]
    )
    if count > limit:
        raise RateLimited(message, retry_after=ttl_ms / 1000)


def rate_limit(*, action: str, user_id: int, rate: Rate, what: str) -> None:
    """Count one `action` of the user: at most `rate[0]` per `rate[1]` seconds, else
    RateLimited ("Too many <what>; slow down.")."""
    limit, window = rate
    rate_limit_hit(
        key=f"rate:{action}:{user_id}",
        limit=limit,
        window=window,
        message=f"Too many {what}; slow down.",
    )
