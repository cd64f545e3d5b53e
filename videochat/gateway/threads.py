"""Where socket handlers run blocking work (the ORM, MongoDB, sync Redis clients): one pool
of GATEWAY_THREADS threads per server process.

Not Channels' `database_sync_to_async`, which runs every ORM call of the process on one
thread, nor asyncio's default executor (CPU count + 4 threads): with hundreds of sockets
sending at once, either one queues each message behind the others' round trips
(bench/chat.py measured seconds of latency). A call here is one self-contained unit (a
service function); it holds no transaction open between calls, so any thread will do. Each
thread keeps its own database connection, closed or renewed by CONN_MAX_AGE and health
checks before and after every call, as Django does around a request."""

import asyncio
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


def _run(function: Callable[[], R]) -> R:
    close_old_connections()
    try:
        return function()
    finally:
        close_old_connections()


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
