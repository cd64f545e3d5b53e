"""The process's PostgreSQL connection pool (videochat/postgresql/base.py): connections
PostgreSQL dropped while idle are replaced without failing a request, and a request that
finds no free connection is answered 503 `service_unavailable` on both doors."""

import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import psycopg
import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from psycopg_pool import ConnectionPool, PoolTimeout

from videochat.gateway.testing import device, sync_thread_connections_closed  # noqa: F401
from videochat.postgresql import base

pytestmark = pytest.mark.django_db(transaction=True)


def _pool() -> "ConnectionPool[Any]":
    connection.ensure_connection()  # opens the pool
    pool = cast(base.DatabaseWrapper, connection).pool
    assert pool is not None
    return pool


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@contextmanager
def _exhausted() -> Iterator[None]:
    """Every connection of the pool taken; a request waits half a second for one."""
    pool = _pool()
    connection.close()  # the test's own goes back too, so the request must wait
    timeout, pool.timeout = pool.timeout, 0.5
    taken = []
    try:
        while True:
            taken.append(pool.getconn(timeout=0.5))
    except PoolTimeout:
        pass
    try:
        yield
    finally:
        pool.timeout = timeout
        for conn in taken:
            pool.putconn(conn)


def test_connections_dropped_while_idle_are_replaced_without_failing_a_request(
    alice, client_for, monkeypatch
):
    pool = _pool()
    connection.close()
    idle = [pool.getconn() for _ in range(8)]
    pids = {conn.info.backend_pid for conn in idle}
    for conn in idle:
        pool.putconn(conn)
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid", [list(pids)])
    monkeypatch.setattr(base, "CHECK_INTERVAL_SECONDS", 0.0)  # as after a second of idling

    # psycopg's pool alone tries the dead ones one by one, backing off 1, 2, 4... s: with
    # eight of them this request ran out of the 10 s timeout.
    response = client_for(alice).get("/api/v1/wallet")
    assert response.status_code == 200, response.content
    assert _backend_pid() not in pids
    # The request may have met a live one first: leave no dead connection to the next test,
    # which would get it unchecked within CHECK_INTERVAL_SECONDS.
    pool.check()


def test_no_free_connection_is_503_service_unavailable(alice, client_for):
    client = client_for(alice)
    with _exhausted():
        response = client.get("/api/v1/wallet")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"


async def test_no_free_connection_is_service_unavailable_over_the_socket(alice):
    async with device(alice) as phone:
        exhausted = _exhausted()
        await sync_to_async(exhausted.__enter__)()
        try:
            # The typing relay looks for blocks in PostgreSQL.
            reply = await phone.request("chat:typing", {"to": alice.pk + 1, "is_typing": True})
        finally:
            await sync_to_async(exhausted.__exit__)(None, None, None)
    assert reply["type"] == "error"
    assert reply["error"]["code"] == "service_unavailable"


def _report_backend_pid(pids: "multiprocessing.Queue[int]") -> None:
    pids.put(_backend_pid())


def test_a_forked_child_does_not_take_the_parents_connections(alice):
    parent = _backend_pid()
    connection.close()  # idle in the pool when the process forks
    context = multiprocessing.get_context("fork")
    pids = context.Queue()
    children = [context.Process(target=_report_backend_pid, args=(pids,)) for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=30)
        assert child.exitcode == 0
    first, second = pids.get(timeout=5), pids.get(timeout=5)
    assert len({parent, first, second}) == 3
    assert _backend_pid() != 0  # the parent works on
