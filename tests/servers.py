"""Real server processes for tests: uvicorn (HTTP + WebSocket, on a free port of 127.0.0.1),
a Celery worker and Celery beat, all on this test run's stores: the pytest test database (so
they see what a `django_db(transaction=True)` test commits), and TEST_RUN_ID's Redis prefix.

    @pytest.fixture
    def servers(transactional_db, tmp_path):
        with running_servers(tmp_path, worker=True, beat=True,
                             env={"CALL_TICK_SECONDS": "1"}) as started:
            yield started

    def test_something(servers):
        status, body = servers.request("GET", "/api/v1/wallet", token=...)

`web=2` starts two web servers (`servers.ports`, processes "web" and "web2") on the same
stores; `web=False, worker=True` a worker alone; `web_command=` serves with another command
line (e.g. `make run`'s, to test what it logs). `run_python` runs a snippet in a fresh
interpreter with the test settings.

Every process gets a session of its own and is stopped with its whole process group (the
worker's pool children too) when the block ends, also when the test fails
(deploy/dev/processes.py, which `make run` uses too). The web server serves /static/ as
`DEBUG` would (tests.settings turns DEBUG off): see `static_application`.
"""

import asyncio
import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import connection
from websockets.exceptions import ConnectionClosed

from deploy.dev.processes import Process, free_port, stop_all

HOST = "127.0.0.1"
ROOT = Path(settings.BASE_DIR)
START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 10


def database_url(*, port: int | None = None) -> str:
    """The pytest test database (tests.settings keeps a `test_*` name as given); `port`
    reaches it through another port (a proxy in front of PostgreSQL)."""
    db = connection.settings_dict
    assert db["NAME"].startswith("test_"), "server processes only ever run on a test database"
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or HOST
    port = port or db["PORT"] or 5432
    return f"postgres://{credentials}@{host}:{port}/{quote(db['NAME'], safe='')}"


def server_env(**overrides: str) -> dict[str, str]:
    """The environment of a process that must work on this run's stores."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "TEST_RUN_ID": os.environ.get("TEST_RUN_ID", ""),
        "PYTHONUNBUFFERED": "1",
        **overrides,
    }


def request(
    port: int,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any = None,
    timeout: float = 5,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """(status, decoded JSON or None) of one HTTP request to 127.0.0.1:`port`."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    headers = {"Content-Type": "application/json", **(headers or {})}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        payload = json.dumps(body) if body is not None else None
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, raw.decode(errors="replace")
    finally:
        conn.close()


def static_application() -> Any:
    """`uvicorn --factory tests.servers:static_application`: the project's ASGI application
    that also serves /static/ from the apps' static folders, as DEBUG does in development
    and nginx does in production (Django's LiveServerTestCase does the same)."""
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    from videochat.asgi import application

    # Serves http requests under STATIC_URL; everything else (WebSocket too) passes through.
    return ASGIStaticFilesHandler(application)


@dataclass
class Servers:
    ports: list[int]  # of the web servers, in start order ("web", "web2", ...)
    processes: dict[str, Process] = field(default_factory=dict)

    @property
    def port(self) -> int | None:
        """The first web server's port."""
        return self.ports[0] if self.ports else None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}/ws/"

    def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        assert self.port is not None, "no web server was started"
        return request(self.port, method, path, **kwargs)

    def restart_web(self) -> None:
        """Stop the web server and start it again on the same port (sockets drop)."""
        web = self.processes["web"]
        web.stop(STOP_TIMEOUT_SECONDS)
        web.start()
        assert self.port is not None
        _wait_healthy(web, self.port, START_TIMEOUT_SECONDS)

    def logs(self, chars: int = 3000) -> str:
        """The end of every process's output, for assertion messages."""
        return "\n".join(
            f"--- {name} ---\n{process.tail(chars)}" for name, process in self.processes.items()
        )


def _web_name(index: int) -> str:
    return "web" if index == 0 else f"web{index + 1}"


WebCommand = Callable[[int], list[str]]


def _commands(
    ports: list[int],
    worker: bool,
    beat: bool,
    static: bool,
    tmp_path: Path,
    web_command: WebCommand | None,
) -> dict[str, list[str]]:
    python = sys.executable
    app = (
        ["--factory", "tests.servers:static_application"]
        if static
        else ["videochat.asgi:application"]
    )
    web = [python, "-m", "uvicorn", *app, "--host", HOST, "--lifespan", "off",
           "--log-level", "warning", "--timeout-graceful-shutdown", "3"]  # fmt: skip
    command = web_command or (lambda port: [*web, "--port", str(port)])
    webs = {_web_name(i): command(port) for i, port in enumerate(ports)}
    others = {
        "worker": [python, "-m", "celery", "-A", "videochat", "worker", "--loglevel", "INFO",
                   "--concurrency", "2", "--without-gossip", "--without-mingle",
                   "--without-heartbeat", "--hostname", f"test-{os.getpid()}@%h"],
        "beat": [python, "-m", "celery", "-A", "videochat", "beat", "--loglevel", "INFO",
                 "--schedule", str(tmp_path / "beat-schedule")],
    }  # fmt: skip
    wanted = {"worker": worker, "beat": beat}
    return {**webs, **{name: command for name, command in others.items() if wanted[name]}}


def _healthy(port: int) -> bool:
    try:
        return request(port, "GET", "/healthz", timeout=2)[0] == 200
    except OSError:
        return False  # not listening yet


def _wait_healthy(process: Process, port: int, timeout: float) -> None:
    process.wait_until(lambda: _healthy(port), timeout, "never became healthy")


@contextmanager
def running_servers(
    tmp_path: Path,
    *,
    web: bool | int = True,
    worker: bool = False,
    beat: bool = False,
    static: bool = True,
    env: dict[str, str] | None = None,
    web_command: WebCommand | None = None,
) -> Iterator[Servers]:
    """Start the asked-for processes (in parallel), wait until each is ready (web: /healthz
    answers 200; worker: " ready."; beat: "Starting..."), yield, then stop them all. `web`
    is how many web servers (True: one); `env` adds settings (e.g.
    CALL_BILLING_PERIOD_SECONDS) to every process; `web_command(port)` replaces the web
    servers' command line (`static` then does not apply); logs land in `tmp_path`."""
    environment = server_env(**(env or {}))
    started = Servers(ports=[free_port() for _ in range(int(web))])
    try:
        commands = _commands(started.ports, worker, beat, static, tmp_path, web_command)
        for name, command in commands.items():
            log = tmp_path / f"{name}.log"
            process = Process(name, command, env=environment, cwd=ROOT, log=log)
            started.processes[name] = process
            process.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        for index, port in enumerate(started.ports):
            _wait_healthy(started.processes[_web_name(index)], port, deadline - time.monotonic())
        if worker:
            started.processes["worker"].wait_for(" ready.", deadline - time.monotonic())
        if beat:
            started.processes["beat"].wait_for("beat: Starting...", deadline - time.monotonic())
        yield started
    finally:
        # SIGTERM to each whole group at once (they stop in parallel), SIGKILL after a while.
        stop_all(started.processes.values(), STOP_TIMEOUT_SECONDS)


def run_python(code: str, env: dict[str, str] | None = None) -> "subprocess.CompletedProcess[str]":
    """`python -c code` in a fresh interpreter with the test settings (for what importing
    this test process has already done, e.g. admin autodiscovery) and `env` on top of this
    process's environment; output captured."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def socket_url(port: int, user: Any) -> str:
    """The gateway URL of a server started here, with the user's access token."""
    from videochat.gateway.testing import socket_token

    return f"ws://{HOST}:{port}/ws/?token={socket_token(user)}"


async def next_frame(
    ws: Any, type: str, *, skipping: tuple[str, ...] = ("wallet:balance", "presence:update")
) -> dict[str, Any]:
    """The next frame from a real client socket, which must be of `type`; pushes of the
    `skipping` types (side effects of the flow under test) are passed over."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
        if frame["type"] not in skipping:
            assert frame["type"] == type, frame
            return frame


async def close_code(ws: Any) -> int:
    """The code the server closes a real client socket with; frames before it are passed
    over."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout=5)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "closed without a close frame from the server"
        return closed.rcvd.code
