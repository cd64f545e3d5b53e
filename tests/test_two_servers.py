"""Two real uvicorn processes sharing one Redis (DESIGN.md, "Server pushes"): a change made
through server A reaches the user's socket held by server B."""

import asyncio
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from videochat.gateway.testing import socket_token, sync_thread_connections_closed  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

PROJECT_ROOT = Path(settings.BASE_DIR)
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def servers_database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"], safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{quote(db['NAME'], safe='')}"


def request(
    port: int, method: str, path: str, *, token: str | None = None, body: Any = None
) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(
            method, path, body=json.dumps(body) if body is not None else None, headers=headers
        )
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        conn.close()


def wait_until_healthy(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server on port {port} exited:\n{log.read_text()}")
        try:
            if request(port, "GET", "/healthz")[0] == 200:
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.2)
    pytest.fail(f"server on port {port} never became healthy:\n{log.read_text()}")


@pytest.fixture
def two_servers(transactional_db: None, tmp_path: Path) -> Iterator[tuple[int, int]]:
    """Ports of two uvicorn processes on the test database, Redis and MongoDB."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        # The pytest database, which holds the committed test users.
        "DATABASE_URL": servers_database_url(),
    }
    servers: list[subprocess.Popen[bytes]] = []
    ports = (free_port(), free_port())
    try:
        for port in ports:
            log = tmp_path / f"uvicorn-{port}.log"
            servers.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "videochat.asgi:application",
                        "--host",
                        HOST,
                        "--port",
                        str(port),
                        "--lifespan",
                        "off",
                        "--log-level",
                        "warning",
                    ],
                    cwd=PROJECT_ROOT,
                    env=env,
                    stdout=log.open("wb"),
                    stderr=subprocess.STDOUT,
                )
            )
        for process, port in zip(servers, ports, strict=True):
            wait_until_healthy(process, port, tmp_path / f"uvicorn-{port}.log")
        yield ports
    finally:
        for process in servers:
            process.terminate()
        for process in servers:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


async def test_profile_change_on_server_a_is_pushed_to_sockets_on_both_servers(alice, two_servers):
    port_a, port_b = two_servers
    token = socket_token(alice)
    offered = Subprotocol(f"bearer.{token}")
    async with (
        connect(f"ws://{HOST}:{port_b}/ws/", subprotocols=[offered], open_timeout=5) as on_b,
        connect(f"ws://{HOST}:{port_a}/ws/?token={token}", open_timeout=5) as on_a,
    ):
        assert on_b.subprotocol == offered

        status, body = await asyncio.to_thread(
            request, port_a, "PATCH", "/api/v1/me", token=token, body={"name": "Alice Two"}
        )
        assert status == 200, body
        assert body["name"] == "Alice Two"

        for ws in (on_b, on_a):
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
            assert frame["type"] == "profile:update"
            assert frame["data"]["user"]["id"] == alice.pk
            assert frame["data"]["user"]["name"] == "Alice Two"


async def test_real_server_answers_frames_and_closes_bad_tokens_with_4401(alice, two_servers):
    port_a, _ = two_servers
    async with connect(
        f"ws://{HOST}:{port_a}/ws/?token={socket_token(alice)}", open_timeout=5
    ) as ws:
        await ws.send("not json")
        assert (
            json.loads(await asyncio.wait_for(ws.recv(), 5))["error"]["code"] == "validation_error"
        )
        await ws.send(json.dumps({"type": "presence:update", "ref": "r"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "ack"

    async with connect(f"ws://{HOST}:{port_a}/ws/?token=expired.or.forged", open_timeout=5) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401
