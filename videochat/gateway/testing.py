"""Test helpers for anything that talks over the socket (any app's tests may use them)."""

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING

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
    """Autouse for the module that imports it. Async code reaches the ORM through one
    process-wide thread (database_sync_to_async), whose connection would otherwise outlive
    the test and keep pytest-django from dropping the test database."""
    yield
    await database_sync_to_async(connections.close_all)()


def socket_token(user: "User") -> str:
    # An AccessToken alone writes no OutstandingToken row, so async tests may call it.
    return str(AccessToken.for_user(user))


@asynccontextmanager
async def open_socket(user: "User") -> AsyncIterator[WebsocketCommunicator]:
    """An accepted in-process socket of `user` against the real ASGI application."""
    from videochat.asgi import application

    communicator = WebsocketCommunicator(application, f"/ws/?token={socket_token(user)}")
    connected, _ = await communicator.connect()
    assert connected, "the gateway refused the socket"
    try:
        yield communicator
    finally:
        await communicator.disconnect()


@contextmanager
def temporary_event(
    event_type: str, handler: Handler, *, data: "type[Serializer] | None" = None
) -> Iterator[None]:
    """Register a test-only handler for the duration of the block."""
    registry.add(event_type, handler, data=data)
    try:
        yield
    finally:
        registry.remove(event_type)
