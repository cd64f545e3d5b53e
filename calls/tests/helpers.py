"""Shared by the call tests: a user's socket driven as a client app drives it."""

from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from itertools import count
from typing import Any

from channels.testing import WebsocketCommunicator

from videochat.gateway.testing import open_socket


class Device:
    """One open socket of a user, as a client app drives it: `request` sends a frame and
    returns its reply, `push` returns the next server push of a type. Pushes that arrive
    while waiting for a reply are kept for `push` (pushes and replies travel different
    ways, so their order is not fixed); balance pushes (the charge at accept) are skipped."""

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


@asynccontextmanager
async def device(user: Any) -> AsyncIterator[Device]:
    async with open_socket(user) as socket:
        yield Device(socket)
