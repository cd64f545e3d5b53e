"""Server pushes: `notify()` is how services tell a user's open sockets that something
happened, on whichever server process holds them (the Redis channel layer carries it)."""

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from videochat.gateway.frames import encode_frame

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    """The channel-layer group every socket of one user joins."""
    return f"user.{user_id}"


def _push_message(type: str, data: dict[str, Any]) -> dict[str, Any]:
    # Encoded here, once: every socket forwards the same text, and data that is not JSON
    # fails in the caller instead of in some consumer.
    return {"type": "gateway.push", "text": encode_frame({"type": type, "data": data})}


async def _group_send(user_id: int, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    assert layer is not None, "CHANNEL_LAYERS is not configured"
    await layer.group_send(user_group(user_id), message)


def notify(user_id: int, type: str, data: dict[str, Any]) -> None:
    """Push the frame `{"type": type, "data": data}` to every socket of the user, once the
    surrounding database transaction commits (at once when there is none). A rolled-back
    change is never announced. For sync code: services, views, Celery tasks."""
    message = _push_message(type, data)

    def deliver() -> None:
        try:
            async_to_sync(_group_send)(user_id, message)
        except Exception:
            # The change is committed already; clients that miss a push catch up over
            # REST, so a Redis hiccup must not turn a successful request into an error.
            logger.exception("Push %s to user %s failed", type, user_id)

    transaction.on_commit(deliver)


def send_now(user_id: int, type: str, data: dict[str, Any]) -> None:
    """Push at once, ignoring any open transaction, and raise if Redis refuses."""
    async_to_sync(_group_send)(user_id, _push_message(type, data))


async def anotify(user_id: int, type: str, data: dict[str, Any]) -> None:
    """notify() for async code (WebSocket handlers): pushes at once, since async code runs
    no database transaction of its own; raises if Redis refuses."""
    await _group_send(user_id, _push_message(type, data))
