"""Sockets that open while a store is down. Setting a socket up needs PostgreSQL (the token's
user) and Redis (the channel layer's subscriptions); when one of them fails before the
handshake is answered, the client would see its handshake fail with HTTP 500. Instead the
socket is accepted and closed at once with 1013, "try again later" (RFC 6455's registry):
a client reconnects after a pause, and never mistakes it for 4401 (log in again)."""

import logging
from typing import Any

from videochat.errors import store_unavailable
from videochat.gateway.auth import read_token

logger = logging.getLogger(__name__)

CLOSE_TRY_AGAIN_LATER = 1013

# ASGI messages that answer a socket's handshake.
_ANSWERS = {"websocket.accept", "websocket.close", "websocket.http.response.start"}


class StoreOutageGuard:
    """ASGI middleware around the socket's whole stack (authentication included)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        answered = connected = False

        async def receive_seen() -> dict[str, Any]:
            nonlocal connected
            message = await receive()
            connected = connected or message["type"] == "websocket.connect"
            return message

        async def send_seen(message: dict[str, Any]) -> None:
            nonlocal answered
            answered = answered or message["type"] in _ANSWERS
            await send(message)

        try:
            await self.app(scope, receive_seen, send_seen)
        except Exception as exc:
            store = store_unavailable(exc)
            if store is None or answered:
                raise
            logger.warning("%s unavailable while a socket opened: %r", store, exc)
            if not connected:
                await receive()  # the client's websocket.connect
            # The offered bearer subprotocol is echoed, or browsers drop the socket before
            # they see the close code.
            await send({"type": "websocket.accept", "subprotocol": read_token(scope)[1]})
            close = {"code": CLOSE_TRY_AGAIN_LATER, "reason": "service_unavailable"}
            await send({"type": "websocket.close", **close})
