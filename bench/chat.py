"""Chat throughput and latency: N connected users exchanging `chat:message` frames through the
real stack (uvicorn, the WebSocket gateway, the chat service, MongoDB, the Redis channel
layer), next to a raw baseline in the same run: a bare Channels consumer that relays each
frame to the recipient's group on the same channel layer, with no auth and no storage
(bench/_chat_echo.py).

Each path runs in 2 uvicorn processes (one per core, sharing Redis); the N websocket clients
live in this process (asyncio) and are split across both servers, so most messages cross
processes through Redis. For N = 100 and 1,000 and each path, on the same sockets:

- `max`: a closed loop, each client keeps one message in flight (sends the next when the
  ack of the last one is back), paced to at most --client-rate messages per second per
  user: chat allows a user 20 messages per 10 s (chat/services.py, MESSAGE_RATE), so the
  pace stays under it and the offered load is at most N x 1.8/s. This is the highest
  throughput the product's rules let N users reach; its latency is mostly queueing.
- `@<r>/s`: an open loop at a fixed offered load (--latency-rate messages per second per
  user, 1 by default, so r = N), sent on schedule whatever the replies do: the
  send-to-receive latency at a load the raw path sustains.

sent/s counts acks (for the project: messages stored) in the measured window, delivered/s
the `chat:message` pushes the recipients got in it; latency is from the send to the
recipient's push (both ends are in this process, on one clock). It prints a table and
`ratio chat delivered/s N=<n>: <project / raw>` (max runs) and
`ratio chat p99 N=<n>: <project / raw>` (fixed-load runs) lines, then whether the issue's
goal holds (delivered/s at least a third of raw's, p99 under 100 ms at the fixed load).

    .venv/bin/python -m bench.chat [--seconds 8] [--users 100,1000]

Its own stores: PostgreSQL videochat_bench (re-created and migrated), MongoDB
videochat_bench on MONGO_URL's server (dropped), Redis prefixes videochat-bench and
videochat-bench-raw (the baseline); only 127.0.0.1. Exits 1 when
the project path does not work (e.g. no `chat:message` handler yet), after the raw figures.
"""

import argparse
import asyncio
import gc
import itertools
import json
import os
import random
import resource
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from bench._common import (
    ROOT,
    bench_database_url,
    bench_url,
    database_recreate,
    django_setup,
    progress,
    ratio_line,
)
from deploy.dev.processes import (
    Process,
    all_processes,
    cpu_times,
    cpu_used,
    free_port,
    port_open,
    stop_all,
)

DATABASE = "videochat_bench"
URL = bench_database_url(DATABASE)
DEFAULT_MONGO_URL = "mongodb://127.0.0.1:27017/videochat"
HOST = "127.0.0.1"
SERVERS_PER_PATH = 2
CONNECT_CONCURRENCY = 50
WARMUP_SECONDS = 1.0
DRAIN_SECONDS = 3.0
START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 5


class ProjectPathBroken(Exception):
    """The project's server does not answer `chat:message` as API.md says."""


def mongo_bench_url() -> str:
    """MONGO_URL with the bench's own database."""
    return bench_url("MONGO_URL", DEFAULT_MONGO_URL, DATABASE)


def mongo_recreate(url: str) -> None:
    import pymongo

    name = urlsplit(url).path.lstrip("/")
    assert name.endswith("_bench"), name
    client: pymongo.MongoClient = pymongo.MongoClient(url, serverSelectionTimeoutMS=5000)
    with client:
        client.drop_database(name)


def raise_open_files(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))


def seed_users(count: int) -> dict[int, str]:
    """`count` users, made in one statement, and an access token for each: {id: token}."""
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import User

    # "!" is Django's unusable password: nobody logs in as a bench user.
    users = User.objects.bulk_create(
        User(email=f"chat{n}@example.com", name=f"Chat {n}", gender="other", password="!")  # noqa: S106
        for n in range(count)
    )
    return {user.pk: str(AccessToken.for_user(user)) for user in users}


# --- server processes -------------------------------------------------------------------------


def server_env(mongo_url: str, prefix: str) -> dict[str, str]:
    # django_setup() has put DATABASE_URL, DEBUG, SECRET_KEY of the bench in os.environ.
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "videochat.settings",
        "DATABASE_URL": URL,
        "MONGO_URL": mongo_url,
        "REDIS_PREFIX": prefix,
        "DEBUG": "0",
        "ALLOWED_HOSTS": f"{HOST},localhost",
        "PYTHONUNBUFFERED": "1",
    }


@dataclass
class Server:
    process: Process
    port: int


def start_server(name: str, app: list[str], env: dict[str, str], logs: Path) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", *app, "--host", HOST, "--port", str(port),
               "--lifespan", "off", "--log-level", "warning", "--no-access-log",
               "--backlog", "4096", "--timeout-graceful-shutdown", "2"]  # fmt: skip
    process = Process(name, command, env=env, cwd=ROOT, log=logs / f"{name}.log")
    process.start()
    return Server(process, port)


@contextmanager
def running_servers(paths: dict[str, tuple[list[str], dict[str, str]]]) -> Iterator[dict]:
    """SERVERS_PER_PATH uvicorn processes per path, all started at once; {path: [Server]}.
    Every one is stopped (its whole process group) when the block ends."""
    logs = Path(tempfile.mkdtemp(prefix="bench-chat-"))
    started: dict[str, list[Server]] = {}
    try:
        for path, (app, env) in paths.items():
            started[path] = [
                start_server(f"{path}{n + 1}", app, env, logs) for n in range(SERVERS_PER_PATH)
            ]
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        for servers in started.values():
            for server in servers:
                listening = partial(port_open, HOST, server.port)
                server.process.wait_until(listening, deadline - time.monotonic(), "never listened")
        progress(f"servers up (logs in {logs})")
        yield started
    finally:
        every = [server.process for servers in started.values() for server in servers]
        stop_all(every, STOP_TIMEOUT_SECONDS)


# --- clients ----------------------------------------------------------------------------------


@dataclass
class Window:
    """What the clients count while the measured window is open."""

    open: bool = False
    acked: int = 0
    delivered: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    # over the whole run, to check that every stored message reached its recipient
    total_acked: int = 0
    total_delivered: int = 0


class Client:
    """One user's socket: a reader task that resolves acks and times pushes."""

    def __init__(self, uid: int, ws, window: Window, tag: str) -> None:
        self.uid = uid
        self.ws = ws
        self.window = window
        self.tag = tag
        self.refs = itertools.count(1)
        self.waiting: dict[int, asyncio.Future[dict]] = {}
        self.reader = asyncio.create_task(self.read())

    async def read(self) -> None:
        with suppress(Exception):  # the socket closed
            async for raw in self.ws:
                try:
                    self.handle(raw, time.perf_counter())
                except Exception as error:  # a frame not shaped as API.md says
                    code = f"unreadable frame ({type(error).__name__}: {str(raw)[:120]})"
                    self.window.errors[code] = self.window.errors.get(code, 0) + 1
        for waiter in self.waiting.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError("the socket closed"))
                waiter.exception()  # retrieved: no warning for the ones nobody awaits

    def handle(self, raw: str | bytes, now: float) -> None:
        window = self.window
        frame = json.loads(raw)
        kind = frame.get("type")
        if kind == "chat:message":
            window.total_delivered += 1
            if window.open:
                sent = float(frame["data"]["message"]["text"].split(" ", 1)[0])
                window.delivered += 1
                window.latencies.append(now - sent)
        elif kind in ("ack", "error"):
            waiter = self.waiting.pop(frame.get("ref"), None)
            if kind == "ack":
                window.total_acked += 1
                if window.open:
                    window.acked += 1
            else:
                code = frame.get("error", {}).get("code", "?")
                window.errors[code] = window.errors.get(code, 0) + 1
            if waiter is not None and not waiter.done():
                waiter.set_result(frame)

    async def send(self, to: int) -> asyncio.Future[dict]:
        ref = next(self.refs)
        waiter: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
        self.waiting[ref] = waiter
        text = f"{time.perf_counter():.6f} hello from {self.uid}"
        client_id = f"{self.tag}-{self.uid}-{ref}"
        frame = {
            "type": "chat:message",
            "ref": ref,
            "data": {"to": to, "text": text, "client_id": client_id},
        }
        await self.ws.send(json.dumps(frame))
        return waiter

    async def close(self) -> None:
        with suppress(Exception):
            await self.ws.close()
        with suppress(Exception):
            await asyncio.wait_for(self.reader, 5)


async def connect_all(urls: dict[int, str], window: Window, tag: str) -> list[Client]:
    from websockets.asyncio.client import connect

    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(uid: int, url: str) -> Client:
        async with gate:
            ws = await connect(
                url, compression=None, ping_interval=None, open_timeout=30, max_queue=None
            )
            return Client(uid, ws, window, tag)

    results = await asyncio.gather(
        *(one(uid, url) for uid, url in urls.items()), return_exceptions=True
    )
    clients = [r for r in results if isinstance(r, Client)]
    failures = [r for r in results if not isinstance(r, Client)]
    if failures:
        await asyncio.gather(*(client.close() for client in clients))
        raise ConnectionError(f"{len(failures)} of {len(urls)} sockets failed: {failures[0]!r}")
    return clients


async def probe(clients: list[Client]) -> None:
    """One message, to check the path answers as API.md says before timing it."""
    sender, recipient = clients[0], clients[-1]
    try:
        reply = await asyncio.wait_for(await sender.send(recipient.uid), 10)
    except (TimeoutError, ConnectionError) as error:
        raise ProjectPathBroken(f"no reply to chat:message ({error!r})") from error
    if reply.get("type") != "ack" or "message" not in (reply.get("data") or {}):
        raise ProjectPathBroken(f"chat:message was answered {json.dumps(reply)[:400]}")
    deadline = time.monotonic() + 5
    while sender.window.total_delivered < 1:
        if time.monotonic() > deadline:
            raise ProjectPathBroken("chat:message was acked but never pushed to the recipient")
        await asyncio.sleep(0.01)


def peer(rng: random.Random, uids: list[int], uid: int) -> int:
    while True:
        to = rng.choice(uids)
        if to != uid:
            return to


async def closed_loop(
    clients: list[Client], uids: list[int], client_rate: float, stop: asyncio.Event
) -> None:
    """Every client: send, wait for the ack, pace to client_rate, again."""
    interval = 1 / client_rate

    async def run(client: Client, rng: random.Random) -> None:
        await asyncio.sleep(rng.random() * interval)  # not all in the same instant
        while not stop.is_set():
            started = time.perf_counter()
            with suppress(TimeoutError, ConnectionError):
                await asyncio.wait_for(await client.send(peer(rng, uids, client.uid)), 10)
            pause = interval - (time.perf_counter() - started)
            if pause > 0:
                await asyncio.sleep(pause)

    await asyncio.gather(*(run(c, random.Random(c.uid)) for c in clients))


async def open_loop(
    clients: list[Client], uids: list[int], total_rate: float, stop: asyncio.Event
) -> None:
    """Every client sends on a fixed schedule (total_rate in all), replies or not."""
    interval = len(clients) / total_rate

    async def run(client: Client, rng: random.Random) -> None:
        due = time.perf_counter() + rng.random() * interval
        while not stop.is_set():
            pause = due - time.perf_counter()
            if pause > 0:
                await asyncio.sleep(pause)
            with suppress(ConnectionError):
                await client.send(peer(rng, uids, client.uid))
            due += interval

    await asyncio.gather(*(run(c, random.Random(c.uid)) for c in clients))


@dataclass
class Result:
    users: int
    path: str
    mode: str
    sent: float
    delivered: float
    p50: float
    p99: float
    errors: dict[str, int]
    lost: int
    cpu_ms: float  # CPU time of the path's server processes per delivered message
    store_cpu_ms: float  # the same for the stores: mongod, redis-server, postgres


STORES = ("mongod", "redis-server", "postgres")


def store_pids() -> list[int]:
    """This machine's store processes (every PostgreSQL backend included), by name."""
    return [info.pid for info in all_processes() if info.name in STORES]


def percentile(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def measure(
    clients: list[Client],
    window: Window,
    load,
    seconds: float,
    users: int,
    path: str,
    mode: str,
    pids: list[int],
) -> Result:
    uids = [client.uid for client in clients]
    stop = asyncio.Event()
    task = asyncio.create_task(load(clients, uids, stop))
    await asyncio.sleep(WARMUP_SECONDS)
    window.acked = window.delivered = 0
    window.latencies, window.errors = [], {}
    window.open = True
    stores = store_pids()  # PostgreSQL backends come and go: the ones of this window
    cpu_before, store_cpu_before = cpu_times(pids), cpu_times(stores)
    await asyncio.sleep(seconds)
    window.open = False
    cpu = cpu_used(cpu_before, cpu_times(pids))
    store_cpu = cpu_used(store_cpu_before, cpu_times(stores))
    acked, delivered = window.acked, window.delivered
    latencies, errors = window.latencies, dict(window.errors)
    stop.set()
    await asyncio.wait_for(task, 15)
    # Let the last acks and pushes arrive (a push may overtake its own ack: they travel
    # different ways), then every acked message must have been delivered exactly once.
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline and (  # noqa: ASYNC110
        window.total_delivered < window.total_acked or any(c.waiting for c in clients)
    ):
        await asyncio.sleep(0.05)
    latencies_ms = [1000 * latency for latency in latencies]
    return Result(
        users=users,
        path=path,
        mode=mode,
        sent=acked / seconds,
        delivered=delivered / seconds,
        p50=percentile(latencies_ms, 50),
        p99=percentile(latencies_ms, 99),
        errors=errors,
        lost=window.total_acked - window.total_delivered,
        cpu_ms=1000 * cpu / delivered if delivered else float("nan"),
        store_cpu_ms=1000 * store_cpu / delivered if delivered else float("nan"),
    )


async def run_path(
    path: str,
    users: int,
    urls: dict[int, str],
    args: argparse.Namespace,
    tag: str,
    pids: list[int],
    fixed_rate: float | None,
) -> list[Result]:
    """The path's max run, then its fixed-load run at `fixed_rate` messages per second in
    all (None: a third of what this path's own max run delivered)."""
    window = Window()
    progress(f"N={users} {path}: connecting {users} sockets")
    started = time.monotonic()
    clients = await connect_all(urls, window, tag)
    progress(f"N={users} {path}: connected in {time.monotonic() - started:.1f} s")
    # The clients' sockets live to the end: frozen, the collector's full passes over them
    # (50-100 ms here) stop showing up in either path's p99, as the servers do (asgi.py).
    gc.freeze()
    try:
        await probe(clients)
        progress(f"N={users} {path} max: {args.seconds:g} s")
        results = [
            await measure(
                clients,
                window,
                lambda c, u, stop: closed_loop(c, u, args.client_rate, stop),
                args.seconds,
                users,
                path,
                "max",
                pids,
            )
        ]
        rate = fixed_rate if fixed_rate is not None else results[0].delivered / 3
        mode = f"@{rate:.0f}/s"
        progress(f"N={users} {path} {mode}: {args.seconds:g} s")
        results.append(
            await measure(
                clients,
                window,
                lambda c, u, stop: open_loop(c, u, rate, stop),
                args.seconds,
                users,
                path,
                mode,
                pids,
            )
        )
        return results
    finally:
        await asyncio.gather(*(client.close() for client in clients))


def table(results: list[Result]) -> str:
    header = (
        f"{'N':>5}  {'path':<8} {'load':<9} {'sent/s':>8} {'delivered/s':>11} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'cpu ms/msg':>10} {'stores':>6}  notes"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        notes = ", ".join(f"{code} x{count}" for code, count in sorted(r.errors.items()))
        if r.lost:
            lost = (
                f"{r.lost} acked, not delivered {DRAIN_SECONDS:g} s later"
                if r.lost > 0
                else f"{-r.lost} more delivered than acked"
            )
            notes = ", ".join(filter(None, [notes, lost]))
        lines.append(
            f"{r.users:>5}  {r.path:<8} {r.mode:<9} {r.sent:>8.0f} {r.delivered:>11.0f} "
            f"{r.p50:>8.1f} {r.p99:>8.1f} {r.cpu_ms:>10.2f} {r.store_cpu_ms:>6.2f}  {notes}"
        )
    return "\n".join(lines)


async def run_all(
    servers: dict, tokens: dict[int, str], args: argparse.Namespace, users_list: list[int]
) -> tuple[list[Result], list[str]]:
    """Every N, the raw path first, then the project. Returns the results and the failures
    of the project path."""
    results: list[Result] = []
    broken: list[str] = []
    uids = sorted(tokens)
    for users in users_list:
        # Users of their own: a user seen before would get its stored messages on connect.
        chosen, uids = uids[:users], uids[users:]
        fixed_rate = args.latency_rate * users if args.latency_rate else None
        for path in ("raw", "project"):
            ports = [server.port for server in servers[path]]
            pids = [server.process.pid for server in servers[path]]
            urls = {}
            for index, uid in enumerate(chosen):
                port = ports[index % len(ports)]
                query = f"uid={uid}" if path == "raw" else f"token={tokens[uid]}"
                urls[uid] = f"ws://{HOST}:{port}/ws/?{query}"
            try:
                found = await run_path(
                    path, users, urls, args, f"n{users}{path[0]}", pids, fixed_rate
                )
            except (ProjectPathBroken, ConnectionError) as error:
                if path == "raw":
                    raise
                progress(f"N={users} project path FAILED: {error}")
                broken.append(f"N={users}: {error}")
                continue
            results += found
            # Both paths carry the same fixed load: a third of raw's max, unless given.
            fixed_rate = fixed_rate if fixed_rate is not None else found[0].delivered / 3
    return results, broken


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="per measurement")
    parser.add_argument("--users", default="100,1000", help="comma-separated values of N")
    parser.add_argument(
        "--client-rate",
        type=float,
        default=1.8,
        help="max messages/s per user in the closed loop (chat allows 20 per 10 s)",
    )
    parser.add_argument(
        "--latency-rate",
        type=float,
        default=None,
        help="messages/s per user in the fixed-load runs (default: a third of what the raw"
        " path's max run delivered, the same load for both paths)",
    )
    args = parser.parse_args()
    users_list = [int(n) for n in args.users.split(",")]
    # Our sockets, plus room for the rest.
    raise_open_files(2 * max(users_list) + 1024)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the servers are stopped

    progress(f"re-creating and migrating {DATABASE}; re-creating MongoDB {DATABASE}")
    database_recreate(URL)
    mongo_url = mongo_bench_url()
    mongo_recreate(mongo_url)
    os.environ["MONGO_URL"] = mongo_url  # what Django (chat/apps.py) connects to
    django_setup(URL)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("ensure_mongo_indexes", verbosity=0)  # as set-up does (make run, migrate)
    progress(f"creating {sum(users_list)} users and their access tokens")
    tokens = seed_users(sum(users_list))
    from django.db import connection

    connection.close()

    paths = {
        "project": (["videochat.asgi:application"], server_env(mongo_url, "videochat-bench")),
        "raw": (
            # By package path: with bench/ first on sys.path, bench/chat.py would shadow
            # the chat app that Django imports.
            ["bench._chat_echo:application"],
            server_env(mongo_url, "videochat-bench-raw"),
        ),
    }
    with running_servers(paths) as servers:
        results, broken = asyncio.run(run_all(servers, tokens, args, users_list))

    print()
    print(table(results))
    load = f"{args.latency_rate:g}/s per user" if args.latency_rate else "a third of raw's max"
    print(
        f"max: closed loop, 1 message in flight per user, at most {args.client_rate:g}/s per user"
        f" (chat allows 20 per 10 s); @<r>/s: open loop, r messages/s in all ({load});"
        " cpu ms/msg: the path's server processes; stores: mongod, redis-server, postgres"
    )
    print()
    by = {(r.users, r.path, r.mode == "max"): r for r in results}
    for users in users_list:
        raw, project = by.get((users, "raw", True)), by.get((users, "project", True))
        if raw and project:
            print(ratio_line(f"chat delivered/s N={users}", project.delivered, raw.delivered))
    for users in users_list:
        raw, project = by.get((users, "raw", False)), by.get((users, "project", False))
        if raw and project:
            print(ratio_line(f"chat p99 N={users}", project.p99, raw.p99))
    for users in users_list:
        keys = [(users, path, mode) for path in ("raw", "project") for mode in (True, False)]
        if all(key in by for key in keys):
            raw, project = by[(users, "raw", True)], by[(users, "project", True)]
            fixed = by[(users, "project", False)]
            met = project.delivered >= raw.delivered / 3 and fixed.p99 < 100
            print(
                f"goal N={users} (delivered/s at least 1/3 of raw's max, p99 under 100 ms at"
                f" {fixed.mode}): {'met' if met else 'NOT met'}"
            )
    if broken:
        print("\nproject path failed (is the `chat:message` event implemented?):", file=sys.stderr)
        for line in broken:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
