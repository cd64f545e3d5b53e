"""Lua scripts on the shared Redis (django-redis' "default" connection)."""

from functools import cache

from django_redis import get_redis_connection
from redis.commands.core import Script


@cache
def redis_script(source: str) -> Script:
    """The script, registered once per process: redis-py runs it by its SHA (EVALSHA) and
    loads it again only after a Redis restart. Call it with `keys=`, `args=` and, inside a
    pipeline, `client=`."""
    return get_redis_connection("default").register_script(source)
