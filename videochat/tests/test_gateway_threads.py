"""The gateway's thread pool (`blocking`): ORM calls work from any of its threads, and a
database connection the server dropped is replaced instead of failing every later call."""

import asyncio
import time

import psycopg
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, connection

from accounts.models import User
from videochat.gateway import blocking
from videochat.gateway.testing import sync_thread_connections_closed  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def _backend_pid() -> int:
    time.sleep(0.05)  # holds its thread, so that calls made together spread over the pool
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _terminate(pids: set[int]) -> None:
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid", [list(pids)])


async def _on_every_thread() -> list[int | BaseException]:
    """One call per pool thread (each holds its thread while the others start)."""
    calls = (blocking(_backend_pid)() for _ in range(settings.GATEWAY_THREADS))
    return await asyncio.gather(*calls, return_exceptions=True)


async def test_a_dropped_connection_fails_one_call_and_is_replaced(alice):
    pids = {pid for pid in await _on_every_thread() if isinstance(pid, int)}
    assert len(pids) == settings.GATEWAY_THREADS  # a connection of its own per thread
    await sync_to_async(_terminate, thread_sensitive=False)(pids)

    first = await _on_every_thread()  # may fail: the health check runs once a second
    assert all(isinstance(r, int | DatabaseError) for r in first), first
    again = await _on_every_thread()
    assert all(isinstance(pid, int) for pid in again), again
    assert not pids & set(again)  # new connections
    assert await blocking(User.objects.count)() == 1
