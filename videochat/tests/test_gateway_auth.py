"""Socket authentication: the access JWT as ?token= or as the `bearer.<token>` subprotocol;
anything else is accepted and closed with 4401 (API.md, WebSocket)."""

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from videochat.asgi import application
from videochat.gateway import EventContext
from videochat.gateway.testing import (
    Device,
    open_socket,
    socket_token,
    sync_thread_connections_closed,  # noqa: F401
    temporary_event,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def assert_closed_4401(communicator: WebsocketCommunicator) -> None:
    connected, _ = await communicator.connect()
    assert connected  # accepted first: a 4xxx close code needs an open socket
    closed = await communicator.receive_output(timeout=2)
    assert closed["type"] == "websocket.close"
    assert closed["code"] == 4401
    await communicator.disconnect()  # the client side of the close: the app ends at once


async def assert_acked(communicator: WebsocketCommunicator) -> None:
    await communicator.send_json_to({"type": "presence:update", "ref": "r1"})
    reply = await communicator.receive_json_from(timeout=2)
    assert reply["type"] == "ack"
    assert reply["ref"] == "r1"


async def test_query_string_token_is_accepted(alice):
    communicator = WebsocketCommunicator(application, f"/ws/?token={socket_token(alice)}")
    connected, subprotocol = await communicator.connect()
    assert connected
    assert subprotocol is None
    await assert_acked(communicator)
    await communicator.disconnect()


async def test_bearer_subprotocol_is_accepted_and_echoed(alice):
    offered = f"bearer.{socket_token(alice)}"
    communicator = WebsocketCommunicator(application, "/ws/", subprotocols=[offered])
    connected, subprotocol = await communicator.connect()
    assert connected
    # Browsers fail the handshake unless the server picks one of the offered subprotocols.
    assert subprotocol == offered
    await assert_acked(communicator)
    await communicator.disconnect()


async def test_bad_token_in_subprotocol_still_echoes_it_before_4401():
    offered = "bearer.not-a-jwt"
    communicator = WebsocketCommunicator(application, "/ws/", subprotocols=[offered])
    connected, subprotocol = await communicator.connect()
    assert connected
    assert subprotocol == offered
    closed = await communicator.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": 4401, "reason": "not_authenticated"}


async def test_missing_token_closes_4401():
    await assert_closed_4401(WebsocketCommunicator(application, "/ws/"))


async def test_garbage_token_closes_4401():
    await assert_closed_4401(WebsocketCommunicator(application, "/ws/?token=garbage.garbage.x"))


async def test_expired_token_closes_4401(alice):
    token = AccessToken.for_user(alice)
    token.set_exp(from_time=timezone.now() - timedelta(hours=1), lifetime=timedelta(minutes=5))
    await assert_closed_4401(WebsocketCommunicator(application, f"/ws/?token={token}"))


async def test_token_of_inactive_user_closes_4401(alice):
    token = socket_token(alice)
    alice.is_active = False
    await database_sync_to_async(alice.save)(update_fields=["is_active"])
    await assert_closed_4401(WebsocketCommunicator(application, f"/ws/?token={token}"))


async def test_refresh_token_is_not_an_access_token(alice):
    from rest_framework_simplejwt.tokens import RefreshToken

    refresh = await database_sync_to_async(RefreshToken.for_user)(alice)
    await assert_closed_4401(WebsocketCommunicator(application, f"/ws/?token={refresh}"))


@pytest.mark.slow
async def test_a_socket_whose_token_expired_is_closed_4401_before_its_next_frame_is_handled(
    alice,
):
    handled: list[dict[str, Any]] = []

    async def record(ctx: EventContext, data: dict[str, Any]) -> None:
        handled.append(data)

    token = AccessToken.for_user(alice)
    # Long enough for the socket to open and answer once on a busy machine.
    token.set_exp(lifetime=timedelta(seconds=5))
    with temporary_event("test:record", record):
        async with open_socket(alice, token=str(token)) as socket:
            phone = Device(socket)
            assert (await phone.request("test:record", {"n": 1}))["type"] == "ack"

            await asyncio.sleep(max(0.0, token["exp"] - time.time()) + 0.2)
            await socket.send_json_to({"type": "test:record", "ref": 2, "data": {"n": 2}})

            assert await phone.closed() == 4401
            assert list(phone.pushes) == []  # neither an ack nor an error: closed instead
    assert handled == [{"n": 1}]
