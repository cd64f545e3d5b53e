"""Per-user rate limits in Redis, one counter per user and action: chat messages and typing,
POST /match, call invites. Over the limit is `RateLimited` (429 `rate_limited`) with the
whole seconds to wait in `details.retry_after`, which both doors pass on (REST also as the
`Retry-After` header)."""

import math

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


def rate_limit(*, action: str, user_id: int, rate: Rate, what: str) -> None:
    """Count one `action` of the user: at most `rate[0]` per `rate[1]` seconds, the window
    starting at the first one (a Redis counter that expires). Over the limit raises
    RateLimited ("Too many <what>"). One script call: a pipeline of SET NX, INCR and PTTL
    cost twice the CPU of the script."""
    limit, window = rate
    key = f"{settings.REDIS_PREFIX}:rate:{action}:{user_id}"
    count, ttl_ms = redis_script(_COUNT_IN_WINDOW)(keys=[key], args=[window * 1000])
    if count > limit:
        retry_after = max(math.ceil(ttl_ms / 1000), 1)
        raise RateLimited(f"Too many {what}; slow down.", details={"retry_after": retry_after})
