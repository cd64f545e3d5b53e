"""Where socket handlers run blocking work (the ORM, MongoDB, sync Redis clients): one pool
of GATEWAY_THREADS threads per server process.

Not Channels' `database_sync_to_async`, which runs every ORM call of the process on one
thread, nor asyncio's default executor (CPU count + 4 threads): with hundreds of sockets
sending at once, either one queues each message behind the others' round trips
(bench/chat.py measured seconds of latency). A call here is one self-contained unit (a
service function); it holds no transaction open between calls, so any thread will do.

A call that used PostgreSQL gives its connection back to the process's connection pool when
it ends, as a request does, so the threads hold none between calls: the process's HTTP
requests and socket calls together never hold more than DATABASE_POOL_MAX_SIZE, and both
queue for the same connections in arrival order. Taking a connection from the pool does not
check it when it was taken less than a second ago (videochat/postgresql/base.py)."""

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache, partial
from typing import ParamSpec, TypeVar

from django.conf import settings
from django.db import connections

P = ParamSpec("P")
R = TypeVar("R")


@cache
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=settings.GATEWAY_THREADS, thread_name_prefix="gateway")


def _run(function: Callable[[], R]) -> R:
    try:
        return function()
    finally:
        connections.close_all()  # back to the pool (a broken one is discarded there)


def blocking(function: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """`await blocking(service)(**kwargs)` runs `service` on the gateway's thread pool.
    Plain run_in_executor: asgiref's SyncToAsync (context copies, thread-sensitivity
    bookkeeping) cost more CPU per call than the chat service's own MongoDB round trips."""

    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_executor(), _run, partial(function, *args, **kwargs))

    return call
