"""The WebSocket gateway under a seeded fuzzer, on a real uvicorn (issue 10, "systematic
proof"; docs/websocket.md, Frames and Limits).

Four users' sockets send FRAMES_PER_SOCKET generated frames each: text that is not JSON,
JSON that is not an object, binary frames, bad or missing `type` and `ref`, unknown types,
`data` that is not an object, and for every event type in the registry (so a new event is
fuzzed without a change here) data built from its serializer's fields with wrong types,
missing and extra fields, boundary and huge values, unicode edge cases and deep nesting,
mixed with valid frames that use real ids. Every frame is sent so that it must get exactly
one reply (a `ref`, or a frame the gateway must refuse), and replies come in order, so each
reply is checked against its frame: an `ack` or an `error` in the contract's shape echoing
the ref, never `server_error`, and an error for every bad frame. Afterwards every socket
still works, the server process is alive and its log has no error.

The only frames that cost the socket are over uvicorn's transport limit (16 MiB, its
`ws_max_size`): closed with 1009 before the application sees them; the test pins that
boundary."""

import asyncio
import json
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from rest_framework import serializers
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.fuzzing import ERROR_CODES, World, build_world, error_shape_problems
from tests.fuzzing import rate_limited_problems as rate_limited_body_problems
from tests.servers import Servers, running_servers, socket_url
from videochat.client_json import MAX_DEPTH
from videochat.gateway.consumer import GatewayConsumer
from videochat.gateway.frames import MAX_REF_INTEGER, MAX_REF_LENGTH
from videochat.gateway.registry import EventSpec, registry
from videochat.gateway.testing import sync_thread_connections_closed  # noqa: F401

pytestmark = [
    pytest.mark.servers,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("mongo_db"),
    pytest.mark.timeout(300),
]

SEED = 1007
FRAMES_PER_SOCKET = 560  # four sockets: 2,240 frames
# Frames are sent in batches (and a sentinel), each batch's replies awaited; a batch takes
# at least BATCH_SECONDS, which keeps a socket under the gateway's 20 frames/s (rate_limited
# replies are right answers too, but hide the handlers).
BATCH = 10
BATCH_SECONDS = 0.6
REPLY_TIMEOUT = 15

MAX_FRAME = GatewayConsumer.max_frame_bytes
TRANSPORT_LIMIT = 16 * 1024 * 1024  # uvicorn's default ws_max_size

# The gateway's own refusals (docs/websocket.md, Replies).
ENVELOPE = frozenset({"validation_error"})
# Refusals once the envelope is read (the throttle's verdict comes after it).
THROTTLED = frozenset({"validation_error", "rate_limited"})
# Anything a handler may answer for a bad or refused request: every client error code.
HANDLER = ERROR_CODES - {"server_error"}


@dataclass
class Frame:
    """A frame to send and what its one reply must be."""

    text: str | bytes
    kind: str  # the generator's category, for figures and failure reports
    ref: Any  # the ref the reply must carry (None when the sent one can't be echoed)
    codes: frozenset[str]  # error codes that are a right answer
    ack: bool  # whether an ack is a right answer
    event_type: str | None = None


# --- Generation ----------------------------------------------------------------------------

UNKNOWN_TYPES = [
    "chat:nope",
    "ack",
    "error",
    "CHAT:MESSAGE",
    "chat:message ",
    " presence:update",
    "presence:update\u0000",
    "чат:сообщение",
    "a:b:c",
    ":",
    "x" * 5000,
    "chat:\ud800",
    "wallet:balance",  # server → client only
    "profile:update",
    "call:low_balance",
    "chat:receipt",
]
BAD_TYPES: list[Any] = [None, 1, 0, True, [], {}, ["chat:message"], {"name": "chat:message"}, ""]
BAD_REFS: list[Any] = [
    True,
    False,
    1.5,
    1000.0,
    "",
    "r" * (MAX_REF_LENGTH + 1),
    MAX_REF_INTEGER + 1,
    -(MAX_REF_INTEGER + 1),
    2**64,
    [],
    ["r"],
    {},
    {"ref": 1},
]
NOT_JSON = [
    "",
    " ",
    "{",
    "}",
    "[",
    '{"type": "presence:update"',
    '{"type": presence:update}',
    "{'type': 'presence:update'}",
    '{"type": "presence:update",}',
    "NaN",
    "Infinity",
    '{"type": "presence:update", "data": {"lat": NaN, "lon": 0}}',
    '{"type": "presence:update", "data": {"lat": -Infinity, "lon": 0}}',
    "undefined",
    "\u0000",
    "\ufeff{}",
    "presence:update",
    '{"type": "presence:update"}{"type": "presence:update"}',
]
NOT_OBJECTS: list[Any] = [None, 0, -1, 1.5, True, "presence:update", [], [{"type": "x"}], [[[]]]]
# Values of every JSON type and the edges of each, to put where a field belongs.
WEIRD: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    2**31,
    2**53,
    2**63,
    2**64,
    10**30,
    -(10**30),
    1.5,
    -0.0,
    1e308,
    "",
    " ",
    "1",
    "0x10",
    "1e3",
    "null",
    "true",
    "\u0000",
    "a\u0000b",
    "\u202e\u200b\ufeff",
    "😀" * 50,
    "\U0010ffff",
    "\ud800",  # lone surrogates: JSON allows the escape, Unicode has no such character
    "a\udfffb",
    "x" * 8001,
    "y" * 20_000,
    "$where",
    {"$gt": ""},
    [],
    [1, "2", None],
    [[[[]]]],
    {},
    {"a": {"b": {"c": {}}}},
    list(range(300)),
]
# Nesting depths around the limit and far over it (a frame stays under 64 KiB).
DEEP = [10, MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH, 500, 990, 5000, 20_000]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def refused_if_not_unicode(frame: Frame) -> Frame:
    """A frame whose JSON holds a lone surrogate (WEIRD and the refs put some in) is not
    I-JSON: refused before its ref is read."""
    if not isinstance(frame.text, str) or frame.kind in ("not_json", "too_deep", "oversized"):
        return frame
    try:
        json.dumps(json.loads(frame.text), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        frame.kind += "+lone_surrogate"
        frame.ref, frame.codes, frame.ack, frame.event_type = None, ENVELOPE, False, None
    return frame


class FrameMaker:
    """Seeded frames for one socket. `known` holds real values by field name (ids that
    exist, and those the server hands out while the fuzzer runs)."""

    def __init__(self, rng: random.Random, known: dict[str, list[Any]], tag: str) -> None:
        self.rng = rng
        self.known = known
        self.tag = tag
        self.count = 0
        self.specs: list[EventSpec] = list(registry.specs())

    def ref(self) -> Any:
        self.count += 1
        rng = self.rng
        choice = rng.random()
        if choice < 0.4:
            return self.count
        if choice < 0.5:
            return rng.choice([0, -self.count, MAX_REF_INTEGER, -MAX_REF_INTEGER])
        if choice < 0.88:
            return f"{self.tag}-{self.count}"
        if choice < 0.9:
            return f"{self.tag}-{self.count}-\udc00"
        # Unicode refs, up to the limit (in characters).
        text = f"{self.tag}{self.count}-ключ-😀-\u202e"
        return (text * MAX_REF_LENGTH)[: rng.randint(len(text), MAX_REF_LENGTH)]

    def make(self) -> Frame:
        roll = self.rng.random()
        for weight, maker in (
            (0.06, self.not_json),
            (0.04, self.not_object),
            (0.02, self.binary),
            (0.04, self.bad_type),
            (0.05, self.bad_ref),
            (0.05, self.unknown_type),
            (0.05, self.data_not_object),
            (0.03, self.deep),
            (0.01, self.oversized),
        ):
            if roll < weight:
                return refused_if_not_unicode(maker())
            roll -= weight
        return refused_if_not_unicode(self.event())

    def not_json(self) -> Frame:
        return Frame(self.rng.choice(NOT_JSON), "not_json", None, ENVELOPE, ack=False)

    def not_object(self) -> Frame:
        text = json.dumps(self.rng.choice(NOT_OBJECTS))
        return Frame(text, "not_object", None, ENVELOPE, ack=False)

    def binary(self) -> Frame:
        payload = json.dumps({"type": "presence:update", "ref": self.ref()}).encode()
        return Frame(self.rng.choice([payload, b"\x00\xff", b""]), "binary", None, ENVELOPE, False)

    def bad_type(self) -> Frame:
        # The ref is read before the type, so the error still carries it.
        ref = self.ref()
        frame: dict[str, Any] = {"ref": ref, "data": {}}
        value = self.rng.choice([*BAD_TYPES, "missing"])
        if value != "missing":
            frame["type"] = value
        return Frame(json.dumps(frame), "bad_type", ref, ENVELOPE, ack=False)

    def bad_ref(self) -> Frame:
        frame = {"type": "presence:update", "ref": self.rng.choice(BAD_REFS), "data": {}}
        return Frame(json.dumps(frame), "bad_ref", None, ENVELOPE, ack=False)

    def unknown_type(self) -> Frame:
        # Without a ref too: a refused frame is answered (ref null) either way.
        ref = self.ref() if self.rng.random() < 0.7 else None
        frame: dict[str, Any] = {"type": self.rng.choice(UNKNOWN_TYPES), "ref": ref, "data": {}}
        return Frame(json.dumps(frame), "unknown_type", ref, THROTTLED, ack=False)

    def data_not_object(self) -> Frame:
        spec = self.rng.choice(self.specs)
        ref = self.ref() if self.rng.random() < 0.7 else None
        data = self.rng.choice([[], [{}], "x", 1, True, 0.5])
        frame = {"type": spec.event_type, "ref": ref, "data": data}
        return Frame(json.dumps(frame), "data_not_object", ref, ENVELOPE, False, spec.event_type)

    def deep(self) -> Frame:
        """Deeply nested JSON, where a field is, or as the whole data. Over MAX_DEPTH levels
        (the frame object counts) the frame is not I-JSON: refused before its ref is read."""
        spec = self.rng.choice(self.specs)
        ref = self.ref()
        depth = self.rng.choice(DEEP)
        data = self.data_for(spec)
        if data and self.rng.random() < 0.7:
            data[self.rng.choice(list(data))] = "@DEEP@"
            text = json.dumps({"type": spec.event_type, "ref": ref, "data": data})
            text = text.replace('"@DEEP@"', nested(depth))
            levels = depth + 2
        else:
            head = json.dumps({"type": spec.event_type, "ref": ref})
            text = head[:-1] + ', "data": ' + nested(depth) + "}"
            levels = depth + 1
        if levels > MAX_DEPTH:
            return Frame(text, "too_deep", None, ENVELOPE, ack=False)
        return Frame(text, "deep", ref, HANDLER, ack=True, event_type=spec.event_type)

    def oversized(self) -> Frame:
        ref = self.ref()
        size = self.rng.choice([MAX_FRAME + 1, 100_000, 1024 * 1024])
        head = json.dumps({"type": "chat:message", "ref": ref, "data": {"text": ""}})
        text = head.replace('"text": ""', '"text": "' + "x" * size + '"')
        # The reply echoes the ref read from the frame's head, unless it is no Unicode.
        if isinstance(ref, str) and any(0xD800 <= ord(char) <= 0xDFFF for char in ref):
            ref = None
        return Frame(text, "oversized", ref, frozenset({"payload_too_large"}), ack=False)

    def event(self) -> Frame:
        spec = self.rng.choice(self.specs)
        ref = self.ref()
        data = self.data_for(spec)
        mutations = self.rng.choice([0, 0, 0, 1, 1, 1, 1, 2, 2, 3])
        for _ in range(mutations):
            self.mutate(data, spec)
        kind = "event_valid" if mutations == 0 else "event_mutated"
        frame = {"type": spec.event_type, "ref": ref, "data": data}
        if self.rng.random() < 0.05:
            frame["extra"] = self.rng.choice(WEIRD)  # other keys are ignored
        return Frame(json.dumps(frame), kind, ref, HANDLER, ack=True, event_type=spec.event_type)

    # Data from the event's serializer fields.

    def fields(self, spec: EventSpec) -> dict[str, serializers.Field]:
        return dict(spec.validator.fields) if spec.validator is not None else {}

    def data_for(self, spec: EventSpec) -> dict[str, Any]:
        data = {}
        for name, field_ in self.fields(spec).items():
            if field_.read_only or (not field_.required and self.rng.random() < 0.3):
                continue
            data[name] = self.valid(name, field_)
        return data

    def valid(self, name: str, field_: serializers.Field) -> Any:
        rng = self.rng
        if name in self.known and self.known[name] and rng.random() < 0.8:
            return rng.choice(self.known[name])
        if isinstance(field_, serializers.ListField):
            return [self.valid(name, field_.child) for _ in range(rng.randint(1, 3))]
        if isinstance(field_, serializers.BooleanField):
            return rng.random() < 0.5
        if isinstance(field_, serializers.ChoiceField):
            return rng.choice(list(field_.choices))
        if isinstance(field_, serializers.IntegerField):
            return rng.choice([1, 2, rng.randint(1, 10**6)])
        if isinstance(field_, serializers.FloatField):
            low = field_.min_value if field_.min_value is not None else -1000
            high = field_.max_value if field_.max_value is not None else 1000
            return rng.uniform(low, high)
        if isinstance(field_, serializers.RegexField):
            return "".join(rng.choice("0123456789abcdef") for _ in range(24))
        if isinstance(field_, serializers.JSONField):
            return rng.choice([{"sdp": "v=0", "type": "offer"}, "candidate:1", {"nested": [1]}])
        if isinstance(field_, serializers.CharField):
            length = rng.randint(1, min(field_.max_length or 40, 40))
            return "".join(rng.choice("abcxyz 0123-ñ😀") for _ in range(length)).strip() or "a"
        return rng.choice(WEIRD)

    def mutate(self, data: dict[str, Any], spec: EventSpec) -> None:
        rng = self.rng
        names = list(self.fields(spec))
        roll = rng.random()
        if names and roll < 0.6:
            data[rng.choice(names)] = rng.choice(WEIRD)
        elif data and roll < 0.8:
            del data[rng.choice(list(data))]
        else:
            data[rng.choice(["extra", "", "__proto__", "to\u0000", "😀"])] = rng.choice(WEIRD)


# --- Checking replies ----------------------------------------------------------------------


@dataclass
class Tally:
    frames: Counter[str] = field(default_factory=Counter)
    replies: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)  # handled, not throttled
    # problem text -> (count, an example frame)
    problems: dict[str, tuple[int, str]] = field(default_factory=dict)

    def problem(self, text: str, frame: Frame) -> None:
        """Counted by kind: numbers in the text (a wait, a ref) don't make a new one."""
        key = re.sub(r"\d+(\.\d+)?", "#", text)
        count, example = self.problems.get(key, (0, ""))
        sent = frame.text if isinstance(frame.text, str) else repr(frame.text)
        self.problems[key] = (count + 1, example or f"{text}: {sent[:300]}")


def reply_problems(frame: Frame, reply: dict[str, Any]) -> list[str]:
    """What is wrong with the one reply to `frame` (empty when it is a right answer)."""
    kind = frame.kind
    if reply.get("ref") != frame.ref or type(reply.get("ref")) is not type(frame.ref):
        return [f"{kind}: reply ref {reply.get('ref')!r:.40} instead of the frame's"]
    if reply["type"] == "ack":
        if not frame.ack:
            return [f"{kind}: acked instead of refused"]
        if set(reply) != {"type", "ref", "data"} or not isinstance(reply["data"], dict):
            return [f"{kind}: ack not {{type, ref, data}}"]
        return []
    if set(reply) != {"type", "ref", "error"}:
        return [f"{kind}: error frame not {{type, ref, error}}"]
    body = {"error": reply["error"]}
    problems = error_shape_problems(body)
    if problems:
        return [f"{kind}: {problem}" for problem in problems]
    code = reply["error"]["code"]
    if code not in frame.codes:
        return [f"{kind}: error code {code} (expected one of {sorted(frame.codes)})"]
    if code == "rate_limited":
        return [f"{kind}: rate_limited {p}" for p in rate_limited_body_problems(body, None)]
    return []


def harvest(frame: dict[str, Any], known: dict[str, list[Any]]) -> None:
    """Ids the server hands out (new calls, messages, conversations) join the known ones."""
    data = frame.get("data")
    if not isinstance(data, dict):
        return
    call = data.get("call")
    if isinstance(call, dict) and call.get("id") not in known["call_id"]:
        known["call_id"].append(call["id"])
    message = data.get("message")
    if isinstance(message, dict):
        if message.get("id") not in known["message_ids"]:
            known["message_ids"].append(message["id"])
        if message.get("conversation_id") not in known["conversation_id"]:
            known["conversation_id"].append(message["conversation_id"])


async def next_reply(ws: ClientConnection, known: dict[str, list[Any]]) -> dict[str, Any]:
    """The next ack or error; pushes in between are passed over (their ids harvested)."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=REPLY_TIMEOUT))
        harvest(frame, known)
        if frame.get("type") in ("ack", "error"):
            return frame


def same_ref(reply: dict[str, Any], frame: Frame) -> bool:
    ref = reply.get("ref")
    return ref == frame.ref and type(ref) is type(frame.ref)


def match(batch: list[Frame], replies: list[dict[str, Any]], tally: Tally) -> None:
    """Check each frame's reply. One reply per frame: matched in order. Otherwise some
    frame got none (or two): matched by ref, so that one lost reply is reported as such
    and does not shift the rest."""
    if len(replies) == len(batch):
        pairs = list(zip(batch, replies, strict=True))
    else:
        pairs, rest = [], list(replies)
        for frame in batch:
            if rest and same_ref(rest[0], frame):
                pairs.append((frame, rest.pop(0)))
            else:
                tally.problem(f"{frame.kind}: no reply", frame)
        for reply in rest:
            tally.problem(f"a reply to no frame: {json.dumps(reply)[:200]}", batch[-1])
    for frame, reply in pairs:
        code = reply["error"]["code"] if reply["type"] == "error" else "ack"
        tally.replies[f"{frame.kind} -> {code}"] += 1
        if frame.event_type and code != "rate_limited":
            tally.events[frame.event_type] += 1
        for problem in reply_problems(frame, reply):
            tally.problem(problem, frame)


async def fuzz_socket(
    ws: ClientConnection, maker: FrameMaker, known: dict[str, list[Any]], tally: Tally
) -> None:
    """Batches of frames, each closed by a sentinel frame: the replies before the
    sentinel's are the batch's (the gateway answers a socket's frames in order)."""
    loop = asyncio.get_running_loop()
    for number in range(0, FRAMES_PER_SOCKET, BATCH):
        started = loop.time()
        batch = [maker.make() for _ in range(min(BATCH, FRAMES_PER_SOCKET - number))]
        sentinel = f"sync-{maker.tag}-{number}"
        for frame in batch:
            tally.frames[frame.kind] += 1
            await ws.send(frame.text)
        await ws.send(json.dumps({"type": "presence:update", "ref": sentinel}))
        replies = []
        try:
            while (reply := await next_reply(ws, known)).get("ref") != sentinel:
                replies.append(reply)
        except (TimeoutError, ConnectionClosed) as exc:
            tally.problem(f"the socket stopped answering: {exc!r}", batch[-1])
            return
        match(batch, replies, tally)
        await asyncio.sleep(max(0.0, started + BATCH_SECONDS - loop.time()))


async def still_works(ws: ClientConnection, known: dict[str, list[Any]]) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "presence:update", "ref": "still-there", "data": {}}))
    return await next_reply(ws, known)


# --- The tests -----------------------------------------------------------------------------


@pytest.fixture
def world(transactional_db: None, mongo_db: Any) -> World:
    return build_world()


@pytest.fixture
def servers(world: World, tmp_path: Path) -> Iterator[Servers]:
    with running_servers(tmp_path, static=False) as started:
        yield started


def known_values(world: World) -> dict[str, list[Any]]:
    return {
        "to": world.user_ids,
        "callee_id": world.user_ids,
        "call_id": list(world.call_ids),
        "gift_id": world.gift_ids,
        "conversation_id": list(world.conversation_ids),
        "message_ids": list(world.message_ids),
    }


def server_errors(servers: Servers) -> list[str]:
    """Lines of the web server's log that tell of a failure (handlers log tracebacks)."""
    log = servers.processes["web"].output().splitlines()
    return [line for line in log if "ERROR" in line or "Traceback" in line]


async def test_fuzzed_frames_each_get_their_one_right_reply(servers: Servers, world: World) -> None:
    assert servers.port is not None
    known = known_values(world)
    users = [world.alice, world.bob, world.hana, world.hugo]
    tally = Tally()
    sockets = [
        await connect(socket_url(servers.port, user), open_timeout=10, max_size=None)
        for user in users
    ]
    try:
        makers = [
            FrameMaker(random.Random(SEED + n), known, tag=f"u{n}") for n in range(len(users))
        ]
        await asyncio.gather(
            *(
                fuzz_socket(ws, maker, known, tally)
                for ws, maker in zip(sockets, makers, strict=True)
            )
        )
        for ws in sockets:
            reply = await still_works(ws, known)
            assert reply["type"] == "ack", reply
    finally:
        for ws in sockets:
            await ws.close()

    print(f"frames by kind: {dict(tally.frames)}")
    print(f"handled by event type: {dict(tally.events)}")
    print("replies: " + ", ".join(f"{k}: {v}" for k, v in sorted(tally.replies.items())))
    problems = [
        f"{count} x {text}\n    e.g. {example}"
        for text, (count, example) in sorted(tally.problems.items())
    ]
    assert not problems, "\n".join(problems)
    assert sum(tally.frames.values()) >= 2000
    # Every event type was reached (not only throttled) many times.
    for spec in registry.specs():
        assert tally.events[spec.event_type] >= 20, (spec.event_type, tally.events)
    servers.processes["web"].check_alive()
    assert not server_errors(servers), "\n".join(server_errors(servers)[-100:])


async def test_a_burst_is_answered_rate_limited_and_the_socket_stays(
    servers: Servers, world: World
) -> None:
    """Over the gateway's 40-frame burst, every frame still gets its reply; the throttled
    ones `rate_limited` with their ref."""
    assert servers.port is not None
    known = known_values(world)
    burst = int(GatewayConsumer.rate_burst) * 2
    async with connect(socket_url(servers.port, world.alice), open_timeout=10) as ws:
        for n in range(burst):
            await ws.send(json.dumps({"type": "presence:update", "ref": n, "data": {}}))
        replies = [await next_reply(ws, known) for _ in range(burst)]
        assert [reply["ref"] for reply in replies] == list(range(burst))
        limited = [reply for reply in replies if reply["type"] == "error"]
        assert limited, "no frame of the burst was throttled"
        problems = []
        for reply in limited:
            assert reply["error"]["code"] == "rate_limited", reply
            problems += rate_limited_body_problems({"error": reply["error"]}, None)
        await asyncio.sleep(1)
        assert (await still_works(ws, known))["type"] == "ack"
    assert not problems, sorted(set(problems))


async def test_only_frames_over_the_transport_limit_close_the_socket(
    servers: Servers, world: World
) -> None:
    """Up to uvicorn's 16 MiB a frame is the gateway's to refuse (`payload_too_large`, the
    socket stays); one byte more and uvicorn closes the socket with 1009 (message too big)
    before the application sees the frame."""
    assert servers.port is not None
    known = known_values(world)
    head = json.dumps({"type": "chat:message", "ref": "big", "data": {"text": ""}})

    def frame_of(size: int) -> str:
        text = head.replace('"text": ""', '"text": "@"')
        return text.replace("@", "x" * (size - len(text) + 1))

    async with connect(socket_url(servers.port, world.bob), open_timeout=10) as ws:
        await ws.send(frame_of(TRANSPORT_LIMIT))
        reply = await next_reply(ws, known)
        assert reply["type"] == "error", reply
        assert reply["error"]["code"] == "payload_too_large", reply
        assert (await still_works(ws, known))["type"] == "ack"

        await ws.send(frame_of(TRANSPORT_LIMIT + 1))
        with pytest.raises(ConnectionClosed) as closed:
            await next_reply(ws, known)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009
    servers.processes["web"].check_alive()
