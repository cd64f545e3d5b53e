"""Fault injection (issue 10): the stores die and come back while clients chat, call and
send gifts, against real server processes (uvicorn, Celery worker and beat).

The app runs on stores of this test's own (tests/stores.py): a redis-server and a mongod
replica set on free ports, and PostgreSQL (the machine's server, the test database) behind a
TCP proxy that the test cuts. Each scenario breaks one store for a few seconds while:

- alice chats with bob over her socket and bob answers over REST, each message under a
  client_id and retried with it until acknowledged, as an app does;
- carol is in a paid call with hana (2 s periods, a billing tick every second) and sends her
  gifts over REST under an Idempotency-Key, retried with the same key until answered;
- every socket heartbeats and reconnects when the server closes it.

What must hold: during the outage the API answers 503 `service_unavailable` for what needs
the missing store (never 500, never a hang), `/healthz` names it, sockets get error frames;
within RECOVERY_SECONDS of the store's return everything works again without restarting the
app; every acknowledged message is in MongoDB; the ledger reconciles and the balances are
exactly what the acknowledged gifts and the charged periods say; the call's billing catches
up, each period charged once.
"""

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import count
from typing import Any
from urllib.parse import urlsplit

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from pymongo import MongoClient
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from accounts.models import User
from calls.charging import periods_begun_before
from calls.models import Call
from gifts.models import Gift, GiftSend
from tests.factories import GiftFactory, HostFactory, UserFactory
from tests.servers import (
    Servers,
    database_url,
    request,
    run_python,
    running_servers,
    socket_url,
)
from tests.stores import MongoServer, RedisServer, TcpProxy
from videochat.gateway.testing import socket_token, sync_thread_connections_closed  # noqa: F401
from wallet.ledger.models import Transaction
from wallet.ledger.reconcile import ledger_check
from wallet.ledger.services import wallet_adjust, wallet_of_user

pytestmark = [
    pytest.mark.servers,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
]

PERIOD = 2  # seconds per billed period
RATE = 10  # coins per period
HOST_SHARE_PERCENT = 50
GIFT_COST = 5
FUNDS = 100_000
OUTAGE_SECONDS = 6
RECOVERY_SECONDS = 30  # the bound: everything works again this soon
CLIENT_TIMEOUT = 10  # a request without an answer this long is a hang
HEARTBEAT_SECONDS = 5


@dataclass
class Stack:
    servers: Servers
    redis: RedisServer
    mongo: MongoServer
    proxy: TcpProxy
    mongo_url: str


@pytest.fixture(scope="module")
def stack(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Own stores, and the app's processes on them, shared by the scenarios of this module
    (each scenario's store is back and working before the next one starts)."""
    tmp = tmp_path_factory.mktemp("faults")
    redis = RedisServer(tmp / "redis")
    mongo = MongoServer(tmp / "mongo")
    pg = connection.settings_dict
    proxy = TcpProxy((pg["HOST"] or "127.0.0.1", int(pg["PORT"] or 5432)))
    try:
        redis.start()
        mongo.start()
        mongo.primary()
        proxy.start()
        mongo_url = mongo.url(urlsplit(settings.MONGO_URL).path.strip("/"))
        env = {
            "REDIS_URL": redis.url,
            "MONGO_URL": mongo_url,
            "DATABASE_URL": database_url(port=proxy.port),
            "CALL_BILLING_PERIOD_SECONDS": str(PERIOD),
            "CALL_TICK_SECONDS": "1",
            "HOST_SHARE_PERCENT": str(HOST_SHARE_PERCENT),
        }
        indexes = run_python(
            "import django; django.setup(); "
            "from django.core.management import call_command; "
            "call_command('ensure_mongo_indexes')",
            env={"MONGO_URL": mongo_url},
        )
        assert indexes.returncode == 0, indexes.stderr
        with running_servers(tmp, worker=True, beat=True, static=False, env=env) as servers:
            yield Stack(servers, redis, mongo, proxy, mongo_url)
    finally:
        proxy.stop()
        mongo.stop()
        redis.stop()


# --- What the clients saw -------------------------------------------------------------------


class Tally:
    """Every answer the clients got, by phase ("before", "outage", "after")."""

    def __init__(self) -> None:
        self.phase = "before"
        self.seen: list[tuple[str, str, str]] = []  # (phase, what, outcome)
        self.slowest: dict[tuple[str, str, str], float] = {}  # seconds to the answer

    def note(self, what: str, outcome: str, since: float | None = None) -> None:
        """`since`: when the request was sent (monotonic), for the slowest answer."""
        seen = (self.phase, what, outcome)
        self.seen.append(seen)
        if since is not None:
            self.slowest[seen] = max(self.slowest.get(seen, 0), time.monotonic() - since)

    def outcomes(self, phase: str, what: str) -> Counter[str]:
        return Counter(o for p, w, o in self.seen if p == phase and w == what)

    def bad(self) -> list[tuple[str, str, str]]:
        """Answers no client may ever get: a 500, a server_error frame, no answer at all."""
        return [
            seen
            for seen in self.seen
            if seen[2].startswith("500") or "server_error" in seen[2] or seen[2] == "hang"
        ]

    def summary(self) -> str:
        lines = []
        for seen, n in sorted(Counter(self.seen).items()):
            slowest = f"slowest {self.slowest[seen]:.1f} s" if seen in self.slowest else ""
            lines.append(f"  {seen[0]:7} {seen[1]:30} {seen[2]:28} x{n:<3} {slowest}")
        return "\n".join(lines)


class AppSocket:
    """One app's socket: reopened 0.5 s after the server closes it (or refuses it), replies
    matched by ref, a heartbeat every HEARTBEAT_SECONDS, pushes kept."""

    def __init__(self, name: str, url: str, tally: Tally) -> None:
        self.name, self.url, self.tally = name, url, tally
        self.ws: ClientConnection | None = None
        self.open = asyncio.Event()
        self.replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.refs = count(1)
        self.pushed_messages: set[str] = set()  # ids of chat:message pushes received

    async def run(self) -> None:
        while True:
            try:
                async with connect(self.url, open_timeout=CLIENT_TIMEOUT) as ws:
                    self.ws = ws
                    self.open.set()
                    self.tally.note(f"{self.name} socket", "open")
                    async for text in ws:
                        self.receive(json.loads(text))
                self.tally.note(f"{self.name} socket", f"closed {ws.close_code}")
            except (OSError, TimeoutError, WebSocketException) as exc:
                self.tally.note(f"{self.name} socket", f"{type(exc).__name__} {exc}"[:60])
            finally:
                self.ws = None
                self.open.clear()
                for reply in self.replies.values():
                    reply.cancel()
                self.replies.clear()
            await asyncio.sleep(0.5)

    def receive(self, frame: dict[str, Any]) -> None:
        if frame["type"] in ("ack", "error") and frame.get("ref") in self.replies:
            self.replies.pop(frame["ref"]).set_result(frame)
        elif frame["type"] == "chat:message":
            self.pushed_messages.add(frame["data"]["message"]["id"])
        elif frame["type"] == "error":
            self.tally.note(f"{self.name} socket", f"error {frame['error']['code']} (no ref)")

    async def request(self, what: str, type: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """The reply frame, or None: no open socket, closed before replying, or a hang."""
        try:
            await asyncio.wait_for(self.open.wait(), CLIENT_TIMEOUT)
        except TimeoutError:
            self.tally.note(what, "no socket")
            return None
        assert self.ws is not None
        sent = time.monotonic()
        ref = next(self.refs)
        reply = self.replies[ref] = asyncio.get_running_loop().create_future()
        try:
            await self.ws.send(json.dumps({"type": type, "ref": ref, "data": data}))
            frame = await asyncio.wait_for(reply, CLIENT_TIMEOUT)
        except (asyncio.CancelledError, WebSocketException):
            if not reply.cancelled():
                raise
            self.tally.note(what, "closed before reply")
            return None
        except TimeoutError:
            self.tally.note(what, "hang")
            return None
        finally:
            self.replies.pop(ref, None)
        outcome = "ack" if frame["type"] == "ack" else f"error {frame['error']['code']}"
        self.tally.note(what, outcome, sent)
        return frame

    async def heartbeat(self) -> None:
        while True:
            await self.request(f"{self.name} heartbeat", "presence:update", {"status": "online"})
            await asyncio.sleep(HEARTBEAT_SECONDS)


@dataclass
class Acked:
    """What the server acknowledged to a client, by the client's key."""

    ids: dict[str, str | int] = field(default_factory=dict)
    at: dict[str, float] = field(default_factory=dict)  # monotonic time of the answer
    unanswered: list[str] = field(default_factory=list)  # never acknowledged: a failure

    def add(self, key: str, id: str | int) -> None:
        self.ids[key] = id
        self.at[key] = time.monotonic()

    def since(self, moment: float) -> list[str]:
        return [key for key, at in self.at.items() if at > moment]


# --- The clients ----------------------------------------------------------------------------


@dataclass
class People:
    alice: User
    bob: User
    carol: User
    hana: User
    gift: Gift


class Workload:
    def __init__(self, stack: Stack, people: People) -> None:
        self.stack, self.people = stack, people
        assert stack.servers.port is not None
        self.port: int = stack.servers.port
        self.tally = Tally()
        users = (people.alice, people.bob, people.carol, people.hana)
        self.tokens = {user.pk: socket_token(user) for user in users}
        self.sockets = {
            name: AppSocket(name, socket_url(self.port, getattr(people, name)), self.tally)
            for name in ("alice", "bob", "carol", "hana")
        }
        self.alice_messages, self.bob_messages, self.gifts = Acked(), Acked(), Acked()
        self.call_id: int | None = None  # the call in progress
        self.call_ids: list[int] = []
        self.stopping = False
        self.give_up_at = float("inf")
        self.tasks: list[asyncio.Task[None]] = []
        self.clients: list[asyncio.Task[None]] = []
        self.health: list[tuple[float, int, Any]] = []  # (monotonic, status, body)

    async def rest(
        self,
        what: str,
        user: User,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int | None, Any]:
        sent = time.monotonic()
        try:
            status, data = await asyncio.to_thread(
                request,
                self.port,
                method,
                path,
                token=self.tokens[user.pk],
                body=body,
                headers=headers,
                timeout=CLIENT_TIMEOUT,
            )
        except TimeoutError:
            self.tally.note(what, "hang")
            return None, None
        except OSError as exc:
            self.tally.note(what, type(exc).__name__)
            return None, None
        code = data["error"]["code"] if isinstance(data, dict) and "error" in data else ""
        self.tally.note(what, f"{status} {code}".strip(), sent)
        return status, data

    async def start(self) -> None:
        """Sockets open, the call placed and answered, then every client at work."""
        for socket in self.sockets.values():
            self.tasks.append(asyncio.create_task(socket.run()))
        for socket in self.sockets.values():
            await asyncio.wait_for(socket.open.wait(), CLIENT_TIMEOUT)
        for socket in self.sockets.values():
            self.tasks.append(asyncio.create_task(socket.heartbeat()))
        await self.place_call()
        self.clients = [
            asyncio.create_task(self.chat_over_socket()),
            asyncio.create_task(self.chat_over_rest()),
            asyncio.create_task(self.send_gifts()),
        ]
        self.tasks.append(asyncio.create_task(self.watch_health()))

    async def place_call(self) -> None:
        """carol calls hana, hana answers: the call is billed from now on."""
        p, calls = self.people, "/api/v1/calls"
        callee = {"callee_id": p.hana.pk}
        status, call = await self.rest("place call", p.carol, "POST", calls, callee)
        assert status == 201, call
        self.call_id = call["id"]
        self.call_ids.append(call["id"])
        status, call = await self.rest("accept", p.hana, "POST", f"{calls}/{self.call_id}/accept")
        assert status == 200 and call["status"] == "active", call

    async def end_call(self) -> None:
        """carol hangs up, retrying until the server answers."""
        for _ in range(RECOVERY_SECONDS * 2):
            end = f"/api/v1/calls/{self.call_id}/end"
            status, call = await self.rest("end call", self.people.carol, "POST", end)
            if status is not None and status < 500:
                assert status == 200, call
                return
            await asyncio.sleep(0.5)

    async def until_acked(self, key: str, acked: Acked, attempt: Callable[[], Any]) -> None:
        """Retry `attempt` (same key) until it answers an id, as an app retries."""
        while True:
            answer = await attempt()
            if answer is not None:
                acked.add(key, answer)
                return
            if time.monotonic() > self.give_up_at:
                acked.unanswered.append(key)
                return
            await asyncio.sleep(0.5)

    async def chat_over_socket(self) -> None:
        alice = self.sockets["alice"]
        for n in count(1):
            if self.stopping:
                return
            key = f"a-{n}"
            data = {"to": self.people.bob.pk, "text": f"hi {n}", "client_id": key}

            async def attempt(data: dict[str, Any] = data) -> str | None:
                frame = await alice.request("chat:message (socket)", "chat:message", data)
                if frame is None or frame["type"] != "ack":
                    if frame and frame["error"]["code"] == "rate_limited":
                        await asyncio.sleep(frame["error"]["details"]["retry_after"])
                    return None
                return frame["data"]["message"]["id"]

            await self.until_acked(key, self.alice_messages, attempt)
            await asyncio.sleep(0.6)  # under the chat rate limit (20 per 10 s)

    async def chat_over_rest(self) -> None:
        for n in count(1):
            if self.stopping:
                return
            key = f"b-{n}"
            body = {"to": self.people.alice.pk, "text": f"hello {n}", "client_id": key}

            async def attempt(body: dict[str, Any] = body) -> str | None:
                status, data = await self.rest(
                    "POST chat/messages", self.people.bob, "POST", "/api/v1/chat/messages", body
                )
                if status in (200, 201):
                    return data["id"]
                if status == 429:
                    await asyncio.sleep(data["error"]["details"]["retry_after"])
                return None

            await self.until_acked(key, self.bob_messages, attempt)
            await asyncio.sleep(0.6)

    async def send_gifts(self) -> None:
        body = {"to": self.people.hana.pk, "gift_id": self.people.gift.pk, "call_id": self.call_id}
        for n in count(1):
            if self.stopping:
                return
            key = f"g-{n}"

            async def attempt(key: str = key) -> int | None:
                carol, path = self.people.carol, "/api/v1/gifts/send"
                headers = {"Idempotency-Key": key}
                what = "POST gifts/send"
                status, data = await self.rest(what, carol, "POST", path, body, headers)
                return data["id"] if status == 201 else None

            await self.until_acked(key, self.gifts, attempt)
            await asyncio.sleep(1)

    async def watch_health(self) -> None:
        while True:
            sent = time.monotonic()
            try:
                status, body = await asyncio.to_thread(
                    request, self.port, "GET", "/healthz", timeout=CLIENT_TIMEOUT
                )
            except OSError as exc:
                status, body = 0, repr(exc)
            self.health.append((time.monotonic(), status, body))
            self.tally.note("GET /healthz", f"{status} {self.failed_checks(body)}", sent)
            await asyncio.sleep(0.5)

    @staticmethod
    def failed_checks(body: Any) -> str:
        if isinstance(body, dict) and "error" in body:
            return ",".join(body["error"]["details"].get("failed", []))
        return ""

    async def probe(self, what: str, user: User, path: str, seconds: float) -> None:
        """GET `path` every 0.5 s for `seconds` (what needs the missing store)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await self.rest(what, user, "GET", path)
            await asyncio.sleep(0.5)

    async def new_socket(self) -> bool:
        """Open another socket of carol's (a second device), heartbeat on it, close it:
        True when the heartbeat was acknowledged."""
        what, sent = "new socket", time.monotonic()
        try:
            async with connect(
                socket_url(self.port, self.people.carol), open_timeout=CLIENT_TIMEOUT
            ) as ws:
                await ws.send(json.dumps({"type": "presence:update", "ref": 1, "data": {}}))
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), CLIENT_TIMEOUT))
                    if frame["type"] in ("ack", "error"):
                        break
        except TimeoutError:
            self.tally.note(what, "hang")
            return False
        except ConnectionClosed as exc:
            self.tally.note(what, f"closed {exc.rcvd.code if exc.rcvd else None}", sent)
            return False
        except InvalidStatus as exc:
            self.tally.note(what, f"{exc.response.status_code} handshake")
            return False
        except (OSError, WebSocketException) as exc:
            self.tally.note(what, f"{type(exc).__name__} {exc}"[:60])
            return False
        outcome = "ack" if frame["type"] == "ack" else f"error {frame['error']['code']}"
        self.tally.note(what, outcome, sent)
        return outcome == "ack"

    async def probe_sockets(self, seconds: float) -> None:
        """A new socket every second for `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await self.new_socket()
            await asyncio.sleep(1)

    async def stop(self) -> None:
        """The clients finish what they were sending (retrying at most RECOVERY_SECONDS
        more), the call ends, and everything stops."""
        self.stopping = True
        self.give_up_at = time.monotonic() + RECOVERY_SECONDS
        await asyncio.gather(*self.clients)
        await self.end_call()
        # A new call works too (hana is online again, and not busy any more).
        await self.place_call()
        await self.end_call()
        await asyncio.sleep(1)  # the last pushes arrive
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


# --- Checks ---------------------------------------------------------------------------------


@sync_to_async
def billing_state(call_id: int) -> tuple[str, int, int]:
    """(status, periods charged, periods started by now) of the call."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status, periods_charged, floor(extract(epoch FROM now() - started_at)"
            " / billing_period_seconds)::int + 1 FROM calls_call WHERE id = %s",
            [call_id],
        )
        status, charged, started = cursor.fetchone()
    return status, charged, started


# What must work again after an outage (each one checked by recovery_times).
RECOVERED = (
    "healthz 200",
    "chat over socket",
    "chat over REST",
    "push to a socket",
    "gift",
    "billing caught up",
    "new socket",
)


async def recovery_times(work: Workload, back: float) -> dict[str, float]:
    """Seconds from `back` (the store answers again) until each part of the app works
    again; whatever does not within RECOVERY_SECONDS is missing from the answer."""
    assert work.call_id is not None
    done: dict[str, float] = {}
    bob = work.sockets["bob"]
    deadline = back + RECOVERY_SECONDS
    while time.monotonic() < deadline and len(done) < len(RECOVERED):
        now = time.monotonic() - back
        checks = {
            "healthz 200": any(at > back and status == 200 for at, status, _ in work.health),
            "chat over socket": bool(work.alice_messages.since(back)),
            "chat over REST": bool(work.bob_messages.since(back)),
            "push to a socket": any(
                work.alice_messages.ids[key] in bob.pushed_messages
                for key in work.alice_messages.since(back)
            ),
            "gift": bool(work.gifts.since(back)),
        }
        status, charged, started = await billing_state(work.call_id)
        checks["billing caught up"] = status == "active" and charged == started
        checks["new socket"] = "new socket" in done or await work.new_socket()
        for name, ok in checks.items():
            if ok:
                done.setdefault(name, round(now, 1))
        await asyncio.sleep(0.2)
    return done


def pushes_lost(work: Workload, since: float) -> list[str]:
    """Once pushes work again, every message acknowledged reaches the other's socket."""
    lost = []
    for acked, socket in (
        (work.alice_messages, work.sockets["bob"]),
        (work.bob_messages, work.sockets["alice"]),
    ):
        lost += [key for key in acked.since(since) if acked.ids[key] not in socket.pushed_messages]
    return [f"pushes lost after recovery: {lost}"] if lost else []


@sync_to_async
def ledger_problems(work: Workload, mongo_url: str) -> list[str]:
    """Every acknowledged message stored once, every acknowledged gift moved once, the call
    billed once per period, balances exactly what all that implies, the ledger reconciled."""
    p, problems = work.people, []
    database = urlsplit(mongo_url).path.strip("/")
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_url, serverSelectionTimeoutMS=10_000)
    with client:
        messages = client[database]["chat_messages"]
        for sender, acked in ((p.alice, work.alice_messages), (p.bob, work.bob_messages)):
            found = messages.find({"sender_id": sender.pk})
            stored = {m["client_id"]: str(m["_id"]) for m in found}
            if stored != acked.ids:
                missing = {k: v for k, v in acked.ids.items() if stored.get(k) != v}
                extra = set(stored) - set(acked.ids)
                problems.append(f"{sender.name}: acked not stored {missing}, unacked {extra}")
            if acked.unanswered:
                problems.append(f"{sender.name}: never acknowledged {acked.unanswered}")
    if work.gifts.unanswered:
        problems.append(f"gifts never answered: {work.gifts.unanswered}")
    sends = list(GiftSend.objects.filter(sender=p.carol))
    keys = sorted(send.idempotency_key for send in sends)
    if keys != sorted(work.gifts.ids) or {s.pk for s in sends} != set(work.gifts.ids.values()):
        problems.append(f"gifts: {keys} stored, {sorted(work.gifts.ids)} acknowledged")
    charged = 0
    for call in Call.objects.filter(pk__in=work.call_ids):
        periods = call.periods_charged
        call_keys = list(
            Transaction.objects.filter(reference=f"call:{call.pk}")
            .order_by("id")
            .values_list("idempotency_key", flat=True)
        )
        # Sorted: a batch claims its keys in key order ("minute:10" before "minute:2").
        billed = [f"call:{call.pk}:minute:{n}" for n in range(1, periods + 1)]
        if sorted(call_keys) != sorted(billed):
            problems.append(f"call billed {call_keys}, periods_charged {periods}")
        if call.total_coins != periods * RATE:
            problems.append(f"call total {call.total_coins} for {periods} periods")
        assert call.started_at is not None and call.ended_at is not None
        # Every period that began before the call ended is paid (at the latest by the close).
        started = periods_begun_before(call.started_at, PERIOD, end=call.ended_at)
        if periods != started:
            problems.append(f"{periods} periods charged, {started} started when it ended")
        charged += periods
    gifts_spent = sum(send.coins_spent for send in sends)
    gifts_earned = sum(send.receiver_coins for send in sends)
    expected = {
        p.carol.name: FUNDS - gifts_spent - charged * RATE,
        p.hana.name: gifts_earned + charged * (RATE * HOST_SHARE_PERCENT // 100),
    }
    actual = {u.name: wallet_of_user(user_id=u.pk).balance for u in (p.carol, p.hana)}
    if actual != expected:
        problems.append(f"balances {actual}, expected {expected}")
    report = ledger_check()
    if not report.ok:
        problems.append(f"ledger does not reconcile: {report}")
    return problems


# --- The scenarios ----------------------------------------------------------------------------


@pytest.fixture
def people(transactional_db: None) -> People:
    gift = GiftFactory.create(name="Rose", cost_coins=GIFT_COST)
    carol = UserFactory.create(name="Carol")
    wallet_adjust(user_id=carol.pk, amount=FUNDS, idempotency_key=f"fund-{carol.pk}", reason="test")
    return People(
        alice=UserFactory.create(name="Alice"),
        bob=UserFactory.create(name="Bob"),
        carol=carol,
        hana=HostFactory.create(name="Hana", rate_per_minute=RATE),
        gift=gift,
    )


@dataclass
class Fault:
    store: str  # the name /healthz gives it
    probe: str  # a path that needs only that store (beside PostgreSQL for the token)
    cut: Callable[[], None]
    restore: Callable[[], None]  # returns once the store answers again
    seconds: float = OUTAGE_SECONDS


async def run_scenario(stack: Stack, people: People, fault: Fault) -> None:
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(32))
    work = Workload(stack, people)
    await work.start()
    await asyncio.sleep(3)
    assert work.alice_messages.ids and work.bob_messages.ids and work.gifts.ids, (
        work.tally.summary()
    )

    work.tally.phase = "outage"
    await asyncio.to_thread(fault.cut)
    await asyncio.gather(
        work.probe(f"GET {fault.probe}", people.alice, fault.probe, fault.seconds),
        work.probe_sockets(fault.seconds),
    )
    await asyncio.to_thread(fault.restore)
    back = time.monotonic()
    work.tally.phase = "after"

    recovered = await recovery_times(work, back)
    await work.stop()
    problems = await ledger_problems(work, stack.mongo_url)

    bad = work.tally.bad()
    if bad:
        problems.append(f"answers no client may get: {sorted(set(bad))}")
    missing = set(RECOVERED) - set(recovered)
    if missing:
        problems.append(f"not working {RECOVERY_SECONDS} s after the store was back: {missing}")
    else:
        problems += pushes_lost(work, since=back + recovered["push to a socket"])
    # During the outage: 503 service_unavailable for what needs the store, /healthz names it.
    if not work.tally.outcomes("outage", f"GET {fault.probe}")["503 service_unavailable"]:
        problems.append(f"GET {fault.probe} never answered 503 service_unavailable")
    if not work.tally.outcomes("outage", "chat:message (socket)")["error service_unavailable"]:
        problems.append("no chat:message frame was answered service_unavailable")
    # A new socket opens (when the store is not needed to set it up) or is told to come back.
    opened = work.tally.outcomes("outage", "new socket")
    if set(opened) - {"ack", "closed 1013"}:
        problems.append(f"new sockets during the outage: {opened}")
    health = work.tally.outcomes("outage", "GET /healthz")
    if not any(fault.store in outcome.split(" ", 1)[-1] for outcome in health):
        problems.append(f"/healthz never named {fault.store}")
    report = f"{fault.store}: working again after {recovered} s\n{work.tally.summary()}"
    print(report)
    assert not problems, "\n".join([*problems, report, stack.servers.logs(1500)])


async def test_redis_killed_and_restarted(stack: Stack, people: People) -> None:
    fault = Fault("redis", "/api/v1/presence/online", stack.redis.kill, stack.redis.start)
    await run_scenario(stack, people, fault)


async def test_mongod_killed_and_restarted(stack: Stack, people: People) -> None:
    fault = Fault("mongo", "/api/v1/chat/conversations", stack.mongo.kill, stack.mongo.start)
    await run_scenario(stack, people, fault)


async def test_postgres_connections_cut(stack: Stack, people: People) -> None:
    # The proxy keeps PostgreSQL away longer than a restart would: 10 s.
    fault = Fault("postgres", "/api/v1/wallet", stack.proxy.cut, stack.proxy.restore, 10)
    await run_scenario(stack, people, fault)
