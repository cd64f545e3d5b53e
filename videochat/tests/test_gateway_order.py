"""How a socket's frames and pushes interleave: frames are handled one at a time, in the order
they arrived, while pushes to the socket go out at once, even while one of its own frames is
still being handled; frames sent just before the client closes are still handled."""

import asyncio
from typing import Any

import pytest

from videochat.gateway import anotify
from videochat.gateway.registry import EventContext
from videochat.gateway.testing import (  # noqa: F401
    open_socket,
    sync_thread_connections_closed,
    temporary_event,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_push_is_not_held_back_by_the_sockets_own_slow_frame(alice):
    release = asyncio.Event()

    async def slow(ctx: EventContext, data: dict[str, Any]) -> dict[str, Any]:
        await release.wait()
        return {"done": True}

    with temporary_event("test:slow", slow):
        async with open_socket(alice) as socket:
            await socket.send_json_to({"type": "test:slow", "ref": 1})
            await asyncio.sleep(0.1)  # the frame is in its handler now
            await anotify(alice.pk, "test:pushed", {"n": 1})
            assert await socket.receive_json_from(timeout=2) == {
                "type": "test:pushed",
                "data": {"n": 1},
            }
            release.set()
            assert await socket.receive_json_from(timeout=2) == {
                "type": "ack",
                "ref": 1,
                "data": {"done": True},
            }


async def test_frames_are_handled_one_at_a_time_in_arrival_order(alice):
    handled: list[int] = []
    running = 0

    async def record(ctx: EventContext, data: dict[str, Any]) -> dict[str, Any]:
        nonlocal running
        running += 1
        assert running == 1, "two frames of one socket were handled at once"
        await asyncio.sleep(0.01 * (data["n"] % 3))  # later frames would finish first
        handled.append(data["n"])
        running -= 1
        return {"n": data["n"]}

    with temporary_event("test:record", record):
        async with open_socket(alice) as socket:
            for n in range(10):
                await socket.send_json_to({"type": "test:record", "ref": n, "data": {"n": n}})
            refs = [(await socket.receive_json_from(timeout=2))["ref"] for _ in range(10)]
    assert refs == list(range(10))
    assert handled == list(range(10))


async def test_frames_sent_just_before_closing_are_still_handled(alice):
    handled: list[int] = []

    async def record(ctx: EventContext, data: dict[str, Any]) -> None:
        await asyncio.sleep(0.05)
        handled.append(data["n"])

    with temporary_event("test:record", record):
        async with open_socket(alice) as socket:
            for n in range(3):
                await socket.send_json_to({"type": "test:record", "data": {"n": n}})
        # open_socket disconnected the socket as soon as the frames were sent.
    assert handled == [0, 1, 2]
