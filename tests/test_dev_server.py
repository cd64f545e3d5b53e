"""`make run`'s foreground (deploy/dev/serve.py): its web server as a real uvicorn process
(what it writes to its log, how it treats WebSocket frames too large for the gateway or for
the transport), and serve.py itself supervising web, worker and beat."""

import asyncio
import importlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from deploy.dev.processes import Process, all_processes, free_port, process_cmdline
from tests.servers import HOST, ROOT, Servers, request, running_servers, server_env
from videochat.gateway.testing import socket_token

pytestmark = [pytest.mark.servers, pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

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


# --- serve.py supervising web, worker and beat ------------------------------------------------


@pytest.fixture
def make_run(transactional_db: None, tmp_path: Path) -> Iterator[tuple[Process, int]]:
    """serve.py as `make run` starts it, on this run's stores and a free port, once its web
    server answers."""
    port = free_port()
    env = server_env(PORT=str(port), DEV_DATA_DIR=str(tmp_path))
    serve = Process(
        "serve", [sys.executable, str(DEV / "serve.py")], env=env, cwd=ROOT, log=tmp_path / "log"
    )
    serve.start()
    try:
        serve.wait_for("videochat is running", timeout=90)
        yield serve, port
    finally:
        serve.stop(30)


def _children(serve: Process) -> dict[str, int]:
    """{"web": pid, "worker": pid, "beat": pid}: the processes serve.py started."""
    found = {}
    for info in all_processes():
        if info.parent == serve.pid:
            command = process_cmdline(info.pid)
            name = next(n for n in ("uvicorn", "worker", "beat") if f" {n} " in f"{command} ")
            found["web" if name == "uvicorn" else name] = info.pid
    return found


def _left_in(groups: set[int]) -> list[str]:
    """The live processes of the process groups `groups`: what a stop leaves behind."""
    return [
        f"{info.pid} {process_cmdline(info.pid)}"
        for info in all_processes()
        if info.group in groups and not info.zombie
    ]


def _wait_gone(groups: set[int]) -> list[str]:
    """Until nothing of `groups` runs (a few seconds at most): what still runs then."""
    deadline = time.monotonic() + 10
    while (left := _left_in(groups)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.mark.timeout(240)
def test_ctrl_c_stops_web_worker_and_beat_and_leaves_no_process(make_run):
    serve, port = make_run
    assert request(port, "GET", "/healthz", timeout=10)[0] == 200
    serve.wait_for(" ready.", timeout=90)  # the worker, and its pool, are up
    serve.wait_for("beat: Starting...", timeout=90)
    children = _children(serve)
    assert set(children) == {"web", "worker", "beat"}, children
    groups = set(children.values())  # each in a session, so a group, of its own
    assert len(_left_in(groups)) > 3, "the worker's pool children are in its group"

    serve.signal(signal.SIGINT, group=False)  # what Ctrl-C sends it
    assert serve.popen.wait(60) == 0, serve.tail()
    output = serve.output()
    assert "serve  | SIGINT: stopping web, worker and beat\n" in output, output
    assert output.endswith("serve  | stopped\n"), output[-3000:]
    assert "serve  | killed" not in output  # each stopped on its own SIGTERM
    for name in ("web", "worker", "beat"):
        assert f"\n{name:<6} | " in output, f"no line tagged {name}"
    assert _wait_gone(groups) == []


@pytest.mark.timeout(240)
def test_when_one_exits_the_others_are_stopped(make_run):
    serve, _ = make_run
    children = _children(serve)
    groups = set(children.values())

    os.killpg(children["worker"], signal.SIGKILL)
    assert serve.popen.wait(60) == 1, serve.tail()
    output = serve.output()
    assert "serve  | worker was killed by SIGKILL: stopping the others\n" in output, output
    assert output.endswith("serve  | stopped\n"), output[-3000:]
    assert _wait_gone(groups) == []
