"""Where socket handlers run blocking work (the ORM, MongoDB, sync Redis clients): one pool
of GATEWAY_THREADS threads per server process.

Not Channels' `database_sync_to_async`, which runs every ORM call of the process on one
thread, nor asyncio's default executor (CPU count + 4 threads): with hundreds of sockets
sending at once, either one queues each message behind the others' round trips
(bench/chat.py measured seconds of latency). A call here is one self-contained unit (a
service function); it holds no transaction open between calls, so any thread will do. Each
thread keeps its own database connection."""

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache, partial
from threading import Barrier
from typing import ParamSpec, TypeVar

from django.conf import settings
from django.db import close_old_connections, connections

P = ParamSpec("P")
R = TypeVar("R")


@cache
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=settings.GATEWAY_THREADS, thread_name_prefix="gateway")


# Django checks connections around every request (close_old_connections: CONN_MAX_AGE,
# connections broken by errors and, with CONN_HEALTH_CHECKS, a `SELECT 1` before the next
# query). Around every socket frame that `SELECT 1` cost more than the frame's own query, so
# a pool thread checks at most this often, and after every call that failed.
CHECK_INTERVAL_SECONDS = 1.0
_last_check = threading.local()


def _run(function: Callable[[], R]) -> R:
    now = time.monotonic()
    if now - getattr(_last_check, "at", -CHECK_INTERVAL_SECONDS) >= CHECK_INTERVAL_SECONDS:
        _last_check.at = now
        close_old_connections()
    try:
        return function()
    except BaseException:
        close_old_connections()
        raise


def blocking(function: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """`await blocking(service)(**kwargs)` runs `service` on the gateway's thread pool.
    Plain run_in_executor: asgiref's SyncToAsync (context copies, thread-sensitivity
    bookkeeping) cost more CPU per call than the chat service's own MongoDB round trips."""

    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_executor(), _run, partial(function, *args, **kwargs))

    return call


def blocking_connections_close() -> None:
    """Close the database connections of every pool thread (tests do, so that the test
    database can be dropped). A barrier holds each task until all have started, so every
    thread of the pool runs exactly one."""
    size = settings.GATEWAY_THREADS
    barrier = Barrier(size)

    def close() -> None:
        barrier.wait(timeout=10)
        connections.close_all()

    for future in [_executor().submit(close) for _ in range(size)]:
        future.result()
