"""The WebSocket gateway. Apps register handlers in their `events.py`:

    from videochat.gateway import EventContext, event

    @event("presence:update", data=PresenceUpdateIn)
    async def presence_update(ctx: EventContext, data: dict) -> dict | None: ...

and push to users with `notify()` / `notify_many()` (sync, after commit) or `anotify()`
(async), and to the socket at hand with `await ctx.push()`; services close
a user's sockets with `disconnect_user()` (after commit). Blocking work
(ORM, MongoDB, sync Redis) runs through `await blocking(function)(...)`.
Importing this package loads no models (the consumer and auth live in their modules)."""

from videochat.gateway.notify import anotify, disconnect_user, notify, notify_many, user_group
from videochat.gateway.registry import (
    EventContext,
    event,
    on_activity,
    on_connect,
    on_disconnect,
    registry,
)
from videochat.gateway.threads import blocking

__all__ = [
    "EventContext",
    "anotify",
    "blocking",
    "disconnect_user",
    "event",
    "notify",
    "notify_many",
    "on_activity",
    "on_connect",
    "on_disconnect",
    "registry",
    "user_group",
]
