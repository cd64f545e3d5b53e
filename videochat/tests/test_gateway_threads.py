"""The gateway's thread pool (`blocking`): ORM calls work from any of its threads, give their
connection back to the process's pool when they end, and a connection the server dropped is
replaced without failing a call."""

import asyncio
import time
from collections.abc import Iterator
from typing import cast

import psycopg
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection

from accounts.models import User
from videochat.gateway import blocking
from videochat.gateway.testing import sync_thread_connections_closed  # noqa: F401
from videochat.postgresql import base

pytestmark = pytest.mark.django_db(transaction=True)


def _backend_pid() -> int:
    time.sleep(0.05)  # holds its thread, so that calls made together spread over the pool
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _terminate(pids: set[int]) -> None:
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid", [list(pids)])


def _taken() -> int:
    """Connections of this process's pool that are out of it (in use)."""
    pool = cast(base.DatabaseWrapper, connection).pool
    assert pool is not None
    stats = pool.get_stats()
    return stats["pool_size"] - stats["pool_available"]


async def _on_every_thread() -> list[int | BaseException]:
    """One call per gateway thread (each holds its thread while the others start)."""
    calls = (blocking(_backend_pid)() for _ in range(settings.GATEWAY_THREADS))
    return await asyncio.gather(*calls, return_exceptions=True)


SMALL_POOL = 8


@pytest.fixture
def small_pool() -> Iterator[None]:
    """The process's pool with fewer connections than the gateway has threads."""
    database = cast(base.DatabaseWrapper, connection)
    options = database.settings_dict["OPTIONS"]["pool"]
    size = options["max_size"]
    options["max_size"] = SMALL_POOL
    database.close_pool()  # the next query opens a pool of the new size
    yield
    options["max_size"] = size
    database.close_pool()


async def test_calls_give_their_connection_back_to_the_pool(alice, small_pool):
    taken_before = await sync_to_async(_taken)()
    pids = await _on_every_thread()
    assert all(isinstance(pid, int) for pid in pids), pids
    # 16 threads, at most the pool's 8 connections among them.
    assert len(set(pids)) <= SMALL_POOL < settings.GATEWAY_THREADS
    # The pool counts a connection it is still opening in the background as taken: wait
    # for that to settle rather than read one instant.
    for _ in range(100):
        if (taken := await sync_to_async(_taken)()) == taken_before:
            break
        await asyncio.sleep(0.05)
    assert taken == taken_before
    assert await blocking(User.objects.count)() == 1


async def test_a_dropped_connection_is_replaced_without_failing_a_call(alice, monkeypatch):
    pids = {pid for pid in await _on_every_thread() if isinstance(pid, int)}
    await sync_to_async(_terminate, thread_sensitive=False)(pids)
    # As if the connections had been idle for a while (no waiting in a test).
    monkeypatch.setattr(base, "CHECK_INTERVAL_SECONDS", 0.0)

    again = await _on_every_thread()
    assert all(isinstance(pid, int) for pid in again), again
    assert not pids & set(again)  # new connections
    assert await blocking(User.objects.count)() == 1
