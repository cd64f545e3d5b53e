"""Two real uvicorn processes sharing one Redis (DESIGN.md, "Server pushes"): a change made
through server A reaches the user's socket held by server B."""

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.servers import HOST, request, running_servers
from videochat.gateway.testing import socket_token, sync_thread_connections_closed  # noqa: F401

pytestmark = [pytest.mark.servers, pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]


@pytest.fixture
def two_servers(transactional_db: None, tmp_path: Path) -> Iterator[tuple[int, int]]:
    """Ports of two uvicorn processes on the test database, Redis and MongoDB."""
    with running_servers(tmp_path, web=2, static=False) as started:
        port_a, port_b = started.ports
        yield port_a, port_b


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
