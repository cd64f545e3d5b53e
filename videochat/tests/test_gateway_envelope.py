"""The envelope (API.md, WebSocket): JSON objects `{"type", "ref"?, "data"?}`, exactly one
ack or error per frame with a ref, an error frame for every bad frame, and the socket
stays open through all of it."""

import json
import time
from typing import Any

import pytest

from videochat.gateway.consumer import GatewayConsumer
from videochat.gateway.registry import EventContext
from videochat.gateway.testing import (  # noqa: F401
    open_socket,
    sync_thread_connections_closed,
    temporary_event,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def echo(ctx: EventContext, data: dict[str, Any]) -> dict[str, Any]:
    return {"echo": data}


@pytest.fixture
def echo_event():
    with temporary_event("test:echo", echo):
        yield


async def assert_still_usable(socket) -> None:
    await socket.send_json_to({"type": "presence:update", "ref": "after"})
    reply = await socket.receive_json_from()
    assert reply["type"] == "ack"
    assert reply["ref"] == "after"


async def test_frame_with_ref_gets_its_ack(alice):
    async with open_socket(alice) as socket:
        await socket.send_json_to({"type": "presence:update", "ref": "c-17", "data": {}})
        assert await socket.receive_json_from() == {
            "type": "ack",
            "ref": "c-17",
            "data": {"status": "online", "ttl": 60},
        }


async def test_integer_ref_is_echoed_and_no_data_means_empty_data(alice, echo_event):
    async with open_socket(alice) as socket:
        await socket.send_json_to({"type": "test:echo", "ref": 7})
        assert await socket.receive_json_from() == {"type": "ack", "ref": 7, "data": {"echo": {}}}


async def test_frame_without_ref_gets_no_ack(alice, echo_event):
    async with open_socket(alice) as socket:
        await socket.send_json_to({"type": "test:echo", "data": {"a": 1}})
        assert await socket.receive_nothing(timeout=0.3)


async def test_unknown_type_is_a_validation_error_with_the_ref(alice):
    async with open_socket(alice) as socket:
        await socket.send_json_to({"type": "chat:nonsense", "ref": "u1", "data": {}})
        reply = await socket.receive_json_from()
        assert reply["type"] == "error"
        assert reply["ref"] == "u1"
        assert reply["error"]["code"] == "validation_error"
        assert "type" in reply["error"]["details"]
        assert reply["error"]["message"]
        await assert_still_usable(socket)


async def test_failing_frame_without_ref_still_gets_an_error(alice):
    async with open_socket(alice) as socket:
        await socket.send_json_to({"type": "chat:nonsense"})
        reply = await socket.receive_json_from()
        assert reply["type"] == "error"
        assert reply["ref"] is None
        assert reply["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    "text",
    [
        "this is not json",
        '{"type": "presence:update", "ref": "x"',  # cut short
        '{"type": "presence:update", "data": {"lat": NaN, "lon": 0}}',  # not JSON either
    ],
)
async def test_text_that_is_not_json_is_answered_and_the_socket_lives(alice, text):
    async with open_socket(alice) as socket:
        await socket.send_to(text_data=text)
        reply = await socket.receive_json_from()
        assert reply["type"] == "error"
        assert reply["ref"] is None
        assert reply["error"]["code"] == "validation_error"
        await assert_still_usable(socket)


@pytest.mark.parametrize(
    "text",
    [
        # Deeper than Python's recursion limit: json.loads raised RecursionError.
        '{"type": "test:echo", "ref": "deep", "data": {"a": ' + "[" * 5000 + "]" * 5000 + "}}",
        # Deeper than the gateway takes (64 levels).
        '{"type": "test:echo", "ref": "deep", "data": {"a": ' + "[" * 64 + "]" * 64 + "}}",
        # Lone surrogates: valid JSON escapes, but no characters (the reply could not be
        # encoded, so the frame got none at all).
        '{"type": "test:echo", "ref": "lone", "data": {"a": "\\ud800"}}',
        '{"type": "test:echo", "ref": "lone-\\udc00", "data": {}}',
        '{"type": "test:echo", "ref": "lone", "data": {"\\udfff": 1}}',
    ],
)
async def test_json_outside_i_json_is_answered_and_the_socket_lives(alice, echo_event, text):
    async with open_socket(alice) as socket:
        await socket.send_to(text_data=text)
        reply = await socket.receive_json_from()
        assert reply["type"] == "error"
        assert reply["ref"] is None
        assert reply["error"]["code"] == "validation_error"
        await assert_still_usable(socket)


async def test_escaped_surrogate_pairs_and_nesting_up_to_the_limit_are_fine(alice, echo_event):
    async with open_socket(alice) as socket:
        text = '{"type": "test:echo", "ref": "ok-\\ud83d\\ude00", "data": {"a": "\\ud83d\\ude00"}}'
        await socket.send_to(text_data=text)
        assert await socket.receive_json_from() == {
            "type": "ack",
            "ref": "ok-😀",
            "data": {"echo": {"a": "😀"}},
        }
        # The frame and data objects are two levels of the 64.
        deep = "[" * 62 + "]" * 62
        await socket.send_to(
            text_data='{"type": "test:echo", "ref": 1, "data": {"a": ' + deep + "}}"
        )
        assert (await socket.receive_json_from())["type"] == "ack"


@pytest.mark.parametrize("payload", [[1, 2], "presence:update", 42, None])
async def test_json_that_is_not_an_object_is_answered(alice, payload):
    async with open_socket(alice) as socket:
        await socket.send_to(text_data=json.dumps(payload))
        reply = await socket.receive_json_from()
        assert reply["error"]["code"] == "validation_error"
        assert reply["error"]["message"] == "A frame must be a JSON object."
        await assert_still_usable(socket)


@pytest.mark.parametrize(
    "frame", [{"ref": "m1"}, {"type": "", "ref": "m1"}, {"type": 5, "ref": "m1"}]
)
async def test_missing_or_bad_type_is_answered_with_the_ref(alice, frame):
    async with open_socket(alice) as socket:
        await socket.send_json_to(frame)
        reply = await socket.receive_json_from()
        assert reply["ref"] == "m1"
        assert reply["error"]["code"] == "validation_error"
        assert "type" in reply["error"]["details"]


@pytest.mark.parametrize("data", [[1, 2], "online", 3])
async def test_data_that_is_not_an_object_is_answered(alice, data):
    async with open_socket(alice) as socket:
        await socket.send_json_to({"type": "presence:update", "ref": "d1", "data": data})
        reply = await socket.receive_json_from()
        assert reply["type"] == "error"
        assert reply["ref"] == "d1"
        assert reply["error"]["code"] == "validation_error"
        assert "data" in reply["error"]["details"]
        await assert_still_usable(socket)


@pytest.mark.parametrize("ref", [{"a": 1}, [1], True, "", "r" * 65, 2**53, 1.5])
async def test_bad_ref_is_answered_without_echoing_it(alice, ref):
    async with open_socket(alice) as socket:
        await socket.send_json_to({"type": "presence:update", "ref": ref})
        reply = await socket.receive_json_from()
        assert reply["type"] == "error"
        assert reply["ref"] is None
        assert reply["error"]["code"] == "validation_error"
        assert "ref" in reply["error"]["details"]
        await assert_still_usable(socket)


async def test_longest_ref_is_fine(alice):
    async with open_socket(alice) as socket:
        await socket.send_json_to({"type": "presence:update", "ref": "r" * 64})
        assert (await socket.receive_json_from())["ref"] == "r" * 64


async def test_oversized_frame_is_refused_and_the_socket_lives(alice):
    async with open_socket(alice) as socket:
        # Multi-byte characters: 22,000 characters but 66,000 bytes.
        text = json.dumps(
            {"type": "presence:update", "ref": "big", "pad": "€" * 22_000}, ensure_ascii=False
        )
        assert len(text) < 64 * 1024 < len(text.encode())
        await socket.send_to(text_data=text)
        reply = await socket.receive_json_from()
        assert reply["type"] == "error"
        assert reply["error"]["code"] == "payload_too_large"
        assert reply["error"]["details"] == {"max_bytes": 65536}
        await assert_still_usable(socket)


def just_over_the_limit(head: str, tail: str = "}") -> str:
    """`head` + padding + `tail`: a frame one byte over 64 KiB."""
    pad = "x" * (64 * 1024 + 1 - len(head) - len(tail) - len('"pad": ""'))
    text = f'{head}"pad": "{pad}"{tail}'
    assert len(text.encode()) == 64 * 1024 + 1
    return text


@pytest.mark.parametrize(
    ("head", "ref"),
    [
        ('{"type": "test:echo", "ref": "c-17", ', "c-17"),
        ('{"ref": 42, "type": "test:echo", ', 42),
        (' { "ref" : "spaced" , ', "spaced"),
        ('{"type": "test:echo", "data": {"ref": "nested"}, "ref": "top", ', "top"),
    ],
)
async def test_an_oversized_frame_keeps_a_ref_that_can_be_read(alice, head, ref):
    async with open_socket(alice) as socket:
        await socket.send_to(text_data=just_over_the_limit(head))
        reply = await socket.receive_json_from()
        assert reply["error"]["code"] == "payload_too_large"
        assert reply["ref"] == ref
        await assert_still_usable(socket)


@pytest.mark.parametrize(
    "head",
    [
        '{"type": "test:echo", ',  # no ref at all
        '{"type": "test:echo", "data": {"ref": "nested"}, ',  # only a nested one
        '{"type": "test:echo", "ref": true, ',  # not a valid ref
        '{"type": "test:echo", "ref": "' + "r" * 65 + '", ',  # too long to echo
        '{"type": "test:echo", "ref": "lone-\\udc00", ',  # no character: can't be echoed
        '["ref", "c-1", ',  # not an object
    ],
)
async def test_an_oversized_frame_without_a_readable_ref_is_answered_with_null(alice, head):
    async with open_socket(alice) as socket:
        await socket.send_to(text_data=just_over_the_limit(head))
        reply = await socket.receive_json_from()
        assert reply["error"]["code"] == "payload_too_large"
        assert reply["ref"] is None
        await assert_still_usable(socket)


async def test_a_ref_after_the_oversized_part_is_not_searched_for(alice):
    async with open_socket(alice) as socket:
        await socket.send_to(text_data=just_over_the_limit('{"type": "t", ', ', "ref": "late"}'))
        reply = await socket.receive_json_from()
        assert reply["error"]["code"] == "payload_too_large"
        assert reply["ref"] is None


async def test_frame_of_exactly_the_limit_is_accepted(alice, echo_event):
    async with open_socket(alice) as socket:
        empty = json.dumps({"type": "test:echo", "ref": "edge", "data": {"pad": ""}})
        text = json.dumps(
            {"type": "test:echo", "ref": "edge", "data": {"pad": "x" * (64 * 1024 - len(empty))}}
        )
        assert len(text.encode()) == 64 * 1024
        await socket.send_to(text_data=text)
        assert (await socket.receive_json_from())["type"] == "ack"


async def test_binary_frame_is_answered_and_the_socket_lives(alice):
    async with open_socket(alice) as socket:
        await socket.send_to(bytes_data=b'{"type": "presence:update", "ref": "b"}')
        reply = await socket.receive_json_from()
        assert reply["type"] == "error"
        assert reply["error"]["code"] == "validation_error"
        await assert_still_usable(socket)


async def test_flood_is_rate_limited_without_closing(alice, echo_event):
    burst = GatewayConsumer.rate_burst
    sent = burst + 20
    async with open_socket(alice) as socket:
        started = time.monotonic()
        for ref in range(sent):
            await socket.send_json_to({"type": "test:echo", "ref": ref})
        replies = [await socket.receive_json_from() for _ in range(sent)]
        elapsed = time.monotonic() - started
        assert sorted(reply["ref"] for reply in replies) == list(range(sent))  # one reply each
        acked = [reply for reply in replies if reply["type"] == "ack"]
        limited = [reply for reply in replies if reply["type"] == "error"]
        # The burst passes, plus what refilled while the frames were being handled.
        assert burst <= len(acked) <= burst + elapsed * GatewayConsumer.rate_per_second + 1
        assert limited
        assert {reply["error"]["code"] for reply in limited} == {"rate_limited"}
        # Whole seconds, rounded up, as REST's Retry-After (a token comes back in 50 ms).
        assert limited[0]["error"]["details"] == {"retry_after": 1}
        await socket.receive_nothing(timeout=0.2)  # the bucket refills
        await socket.send_json_to({"type": "test:echo", "ref": "later"})
        assert (await socket.receive_json_from())["type"] == "ack"


async def test_sustained_rate_is_enforced(alice, echo_event, monkeypatch):
    monkeypatch.setattr(GatewayConsumer, "rate_per_second", 1.0)
    monkeypatch.setattr(GatewayConsumer, "rate_burst", 3)
    async with open_socket(alice) as socket:
        for ref in range(6):
            await socket.send_json_to({"type": "test:echo", "ref": ref})
        kinds = [(await socket.receive_json_from())["type"] for _ in range(6)]
        assert kinds == ["ack"] * 3 + ["error"] * 3
        await socket.receive_nothing(timeout=1.1)  # one token back at 1 per second
        await socket.send_json_to({"type": "test:echo", "ref": "one"})
        await socket.send_json_to({"type": "test:echo", "ref": "two"})
        assert (await socket.receive_json_from())["type"] == "ack"
        assert (await socket.receive_json_from())["error"]["code"] == "rate_limited"
