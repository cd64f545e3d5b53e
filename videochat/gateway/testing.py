"""Test helpers for anything that talks over the socket (any app's tests may use them)."""

import json
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from itertools import count
from typing import TYPE_CHECKING, Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from rest_framework_simplejwt.tokens import AccessToken

from videochat.gateway.registry import Handler, registry

if TYPE_CHECKING:
    from rest_framework.serializers import Serializer

    from accounts.models import User


@pytest.fixture(autouse=True)
async def sync_thread_connections_closed() -> AsyncIterator[None]:
    """Autouse for the module that imports it. Async tests reach the ORM through one
    process-wide thread (sync_to_async, database_sync_to_async), whose connection would
    otherwise stay taken from the pool after the test and keep pytest-django from dropping
    the test database. (The gateway's threads give theirs back after every call.)"""
    yield
    await database_sync_to_async(connections.close_all)()


def socket_token(user: "User") -> str:
    # An AccessToken alone writes no OutstandingToken row, so async tests may call it.
    return str(AccessToken.for_user(user))


@asynccontextmanager
async def open_socket(
    user: "User", *, token: str | None = None
) -> AsyncIterator[WebsocketCommunicator]:
    """An accepted in-process socket of `user` against the real ASGI application, opened
    with `token` when given (a token of a login session, an expiring one)."""
    from videochat.asgi import application

    communicator = WebsocketCommunicator(application, f"/ws/?token={token or socket_token(user)}")
    connected, _ = await communicator.connect()
    assert connected, "the gateway refused the socket"
    try:
        yield communicator
    finally:
        await communicator.disconnect()


@contextmanager
def temporary_event(
    event_type: str, handler: Handler, *, data: "type[Serializer[Any]] | None" = None
) -> Iterator[None]:
    """Register a test-only handler for the duration of the block."""
    registry.add(event_type, handler, data=data)
    try:
        yield
    finally:
        registry.remove(event_type)


class Device:
    """One open socket of a user, as a client app drives it: `request` sends a frame and
    returns its reply, `push` returns the next server push of a type. Pushes that arrive
    while waiting for a reply are kept for `push` (pushes and replies travel different
    ways, so their order is not fixed); balance pushes (a charge
    somewhere in the flow) are skipped."""

    def __init__(self, socket: WebsocketCommunicator) -> None:
        self.socket = socket
        self.pushes: deque[dict[str, Any]] = deque()
        self.refs = count(1)

    async def request(self, type: str, data: dict[str, Any]) -> dict[str, Any]:
        ref = next(self.refs)
        await self.socket.send_json_to({"type": type, "ref": ref, "data": data})
        while True:
            frame = await self.socket.receive_json_from(timeout=3)
            if frame["type"] in ("ack", "error") and frame.get("ref") == ref:
                return frame
            self.pushes.append(frame)

    async def push(self, type: str) -> dict[str, Any]:
        while True:
            if self.pushes:
                frame = self.pushes.popleft()
            else:
                frame = await self.socket.receive_json_from(timeout=3)
            if frame["type"] != "wallet:balance":
                assert frame["type"] == type, frame
                return frame["data"]

    async def nothing(self, wait: float = 0.3) -> bool:
        """True when no push other than a balance arrives within `wait` seconds."""
        unexpected = [frame for frame in self.pushes if frame["type"] != "wallet:balance"]
        assert not unexpected, unexpected
        while not await self.socket.receive_nothing(timeout=wait):
            frame = await self.socket.receive_json_from()
            assert frame["type"] == "wallet:balance", frame
        return True

    async def closed(self) -> int:
        """The code the server closes this socket with; the frames it sent before are kept
        for `push`."""
        while True:
            output = await self.socket.receive_output(timeout=5)
            if output["type"] == "websocket.close":
                return int(output["code"])
            self.pushes.append(json.loads(output["text"]))


@asynccontextmanager
async def device(user: Any, *, token: str | None = None) -> AsyncIterator[Device]:
    async with open_socket(user, token=token) as socket:
        yield Device(socket)
