"""Sockets opened while a store is down: the socket that can't be set up is accepted and
closed with 1013 (try again later), never failed with HTTP 500, nor closed with 4401 (which
would send the client to log in again). The channel layer runs on a redis-server of the
test's own, killed on purpose."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from tests.stores import RedisServer, postgres_connect_refused
from videochat.gateway import blocking
from videochat.gateway.outage import CLOSE_TRY_AGAIN_LATER
from videochat.gateway.testing import (  # noqa: F401
    socket_token,
    sync_thread_connections_closed,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def layer_redis(tmp_path: Path, settings: Any) -> Iterator[RedisServer]:
    """The channel layer on a redis-server of this test's own."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    layer = settings.CHANNEL_LAYERS["default"]
    settings.CHANNEL_LAYERS = {
        "default": {**layer, "CONFIG": {**layer["CONFIG"], "hosts": [{"address": server.url}]}}
    }
    yield server
    server.stop()


def communicator(user: Any) -> WebsocketCommunicator:
    from videochat.asgi import application

    return WebsocketCommunicator(application, f"/ws/?token={socket_token(user)}")


async def assert_told_to_come_back_later(socket: WebsocketCommunicator) -> None:
    connected, _ = await socket.connect(timeout=15)
    assert connected  # accepted, so that the client sees the close code
    closed = await socket.receive_output(timeout=5)
    assert closed == {
        "type": "websocket.close",
        "code": CLOSE_TRY_AGAIN_LATER,
        "reason": "service_unavailable",
    }


@pytest.mark.slow
async def test_a_socket_opened_while_redis_is_down_is_told_to_come_back(alice, layer_redis):
    layer_redis.kill()
    await assert_told_to_come_back_later(communicator(alice))


async def test_a_socket_opened_while_postgres_is_down_is_told_to_come_back(alice, monkeypatch):
    @blocking
    def lookup_on_a_dead_server(token: str) -> None:
        postgres_connect_refused()

    monkeypatch.setattr("videochat.gateway.auth.credentials_for_token", lookup_on_a_dead_server)
    await assert_told_to_come_back_later(communicator(alice))
