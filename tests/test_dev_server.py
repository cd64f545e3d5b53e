"""`make run`'s web server (deploy/dev/serve.py) as a real uvicorn process: what it writes
to its log, and how it treats WebSocket frames too large for the gateway or for the
transport."""

import asyncio
import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.servers import HOST, Servers, request, running_servers
from videochat.gateway.testing import socket_token

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

DEV = Path(__file__).resolve().parents[1] / "deploy" / "dev"


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Any:
    """deploy/dev/serve.py as a module (it imports its sibling `devenv`)."""
    monkeypatch.syspath_prepend(str(DEV))
    return importlib.import_module("serve")


@pytest.fixture
def dev_server(serve: Any, transactional_db: None, tmp_path: Path) -> Iterator[Servers]:
    def web(port: int) -> list[str]:
        return serve.commands(str(port), str(tmp_path / "beat-schedule"))["web"]

    with running_servers(tmp_path, web_command=web) as started:
        yield started


async def test_the_access_token_in_the_url_never_reaches_the_log(alice, dev_server):
    token = socket_token(alice)
    port = dev_server.port
    async with connect(f"ws://{HOST}:{port}/ws/?token={token}", open_timeout=10) as ws:
        await ws.send(json.dumps({"type": "presence:update", "ref": "r"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "ack"
    offered = Subprotocol(f"bearer.{token}")
    async with connect(f"ws://{HOST}:{port}/ws/", subprotocols=[offered], open_timeout=10):
        pass
    # An HTTP request with the same query string, for the access log proper.
    status, _ = await asyncio.to_thread(request, port, "GET", f"/healthz?token={token}&x=1")
    assert status == 200

    log = dev_server.processes["web"]
    await asyncio.to_thread(log.wait_for, "/healthz?token=", 10)
    output = log.output()
    assert token not in output
    # The lines are there, only the secret is gone.
    assert '"WebSocket /ws/?token=[redacted]" [accepted]' in output, output
    assert '"GET /healthz?token=[redacted]&x=1 HTTP/1.1" 200' in output, output
    # The token's pieces (header, payload, signature) are not there either.
    assert not any(part in output for part in token.split(".")[1:])


async def test_frames_over_each_limit(alice, dev_server, serve):
    url = f"ws://{HOST}:{dev_server.port}/ws/?token={socket_token(alice)}"
    # The transport's limit is above the gateway's, so the gateway answers first.
    assert serve.WS_MAX_SIZE > 64 * 1024
    async with connect(url, open_timeout=10, max_size=None) as ws:
        over_gateway = json.dumps({"type": "t", "ref": "big", "data": {"pad": "x" * 70_000}})
        await ws.send(over_gateway)
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert reply["error"]["code"] == "payload_too_large" and reply["ref"] == "big"

        over_transport = json.dumps({"type": "t", "ref": "huge", "pad": "x" * serve.WS_MAX_SIZE})
        await ws.send(over_transport)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009  # message too big: no reply, no ref
