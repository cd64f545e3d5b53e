"""PostgreSQL connections of a real uvicorn process stay within DATABASE_POOL_MAX_SIZE under
concurrent HTTP requests and socket frames, go back to the pool when idle, and are replaced
without failing requests after PostgreSQL dropped them (issue 10: persistent per-thread
connections under ASGI piled up until PostgreSQL answered `too many clients`)."""

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection
from websockets.asyncio.client import connect

from accounts.models import User
from tests.factories import UserFactory
from tests.fixtures import access_token_for
from tests.servers import Servers, request, running_servers, socket_url

pytestmark = [
    pytest.mark.servers,
    pytest.mark.load,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(300),
]

POOL_MAX = 8
CLIENTS = 16
REQUESTS_PER_CLIENT = 36  # 576 in all
SOCKETS = 4
FRAMES_PER_SOCKET = 15  # under chat's 20 messages per 10 s per sender

# Tells this test run's web process apart in pg_stat_activity (libpq reads PGAPPNAME).
APPLICATION_NAME = f"videochat-test-{os.environ.get('TEST_RUN_ID', '')}-web-{os.getpid()}"


def _admin() -> psycopg.Connection[Any]:
    """A plain connection of the test's own, outside Django and its pool."""
    params = connection.get_connection_params()
    keys = ("dbname", "user", "password", "host", "port")
    return psycopg.connect(**{k: params[k] for k in keys if k in params}, autocommit=True)


def _server_connections(admin: psycopg.Connection[Any]) -> int:
    row = admin.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [APPLICATION_NAME]
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def server(transactional_db: None, mongo_db: Any, tmp_path: Path) -> Iterator[Servers]:
    env = {"DATABASE_POOL_MAX_SIZE": str(POOL_MAX), "PGAPPNAME": APPLICATION_NAME}
    with running_servers(tmp_path, static=False, env=env) as started:
        yield started


def _client_requests(port: int, token: str, other: User) -> list[tuple[str, int]]:
    """One client's mixed reads and writes, in order; (what, status) of each."""
    calls: list[tuple[str, str, Any]] = [
        ("GET", "/api/v1/me", None),
        ("GET", "/api/v1/wallet", None),
        ("GET", "/api/v1/wallet/transactions", None),
        ("PATCH", "/api/v1/me", {"bio": "busy"}),
        ("POST", "/api/v1/reports", {"user_id": other.pk, "reason": "spam", "details": "x"}),
        ("GET", f"/api/v1/users/{other.pk}", None),
        ("GET", "/api/v1/users/999999999", None),  # 404 after a lookup
        ("GET", "/api/v1/wallet/packages", None),
        ("POST", "/api/v1/reports", {"reason": "no user"}),  # 400
    ]
    answers = []
    for index in range(REQUESTS_PER_CLIENT):
        method, path, body = calls[index % len(calls)]
        status, _ = request(port, method, path, token=token, body=body, timeout=30)
        answers.append((f"{method} {path}", status))
    return answers


async def _socket_frames(port: int, user: User, to: User) -> list[dict[str, Any]]:
    """chat:message frames (a recipient check in PostgreSQL each), one at a time; replies."""
    refs = count(1)
    replies = []
    async with connect(socket_url(port, user), open_timeout=30) as ws:
        for _ in range(FRAMES_PER_SOCKET):
            ref = next(refs)
            data = {"to": to.pk, "text": "hi", "client_id": f"{user.pk}-{ref}"}
            await ws.send(json.dumps({"type": "chat:message", "ref": ref, "data": data}))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
                if frame.get("ref") == ref:
                    replies.append(frame)
                    break
    return replies


async def _all_sockets(port: int, users: list[User]) -> list[dict[str, Any]]:
    pairs = [(users[i], users[(i + 1) % len(users)]) for i in range(SOCKETS)]
    results = await asyncio.gather(*(_socket_frames(port, a, b) for a, b in pairs))
    return [reply for replies in results for reply in replies]


def test_a_web_process_holds_at_most_its_pool_and_survives_dropped_connections(server):
    port = server.port
    assert port is not None
    users = [UserFactory.create() for _ in range(CLIENTS)]
    tokens = [access_token_for(user) for user in users]
    peak = 0
    burst_over = threading.Event()

    def sample() -> None:
        nonlocal peak
        with _admin() as admin:
            while not burst_over.is_set():
                peak = max(peak, _server_connections(admin))
                time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(CLIENTS + 1) as clients:
            sockets = clients.submit(asyncio.run, _all_sockets(port, users))
            answers = [
                answer
                for future in [
                    clients.submit(_client_requests, port, token, users[(i + 1) % CLIENTS])
                    for i, token in enumerate(tokens)
                ]
                for answer in future.result()
            ]
            replies = sockets.result()
    finally:
        burst_over.set()
        sampler.join()

    assert len(answers) == CLIENTS * REQUESTS_PER_CLIENT
    failed = [answer for answer in answers if not 200 <= answer[1] < 500]
    assert not failed, (failed[:10], server.logs())
    assert {status for _, status in answers} >= {200, 201, 400, 404}
    assert len(replies) == SOCKETS * FRAMES_PER_SOCKET
    assert all(reply["type"] == "ack" for reply in replies), replies
    assert 0 < peak <= POOL_MAX, f"{peak} connections at the peak for a pool of {POOL_MAX}"

    # Idle: nothing more is opened, nothing is checked out.
    with _admin() as admin:
        time.sleep(2)
        assert _server_connections(admin) <= POOL_MAX
        busy = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND state <> 'idle'",
            [APPLICATION_NAME],
        ).fetchone()
        assert busy == (0,)

        # PostgreSQL drops every connection of the process (a restart, an operator):
        # the very next requests and frames succeed on new connections.
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            [APPLICATION_NAME],
        )
        for _ in range(3):
            status, body = request(port, "GET", "/api/v1/wallet", token=tokens[0], timeout=30)
            assert status == 200, (body, server.logs())
        # (Senders that have not used up their chat rate limit in the burst.)
        replies = asyncio.run(_socket_frames(port, users[SOCKETS], users[SOCKETS + 1]))
        assert all(reply["type"] == "ack" for reply in replies), replies
        assert 0 < _server_connections(admin) <= POOL_MAX
