"""Where apps plug into the gateway: each app's `events.py` registers the frame types it
handles (`@event`) and what it does when a socket opens, shows activity or closes
(`@on_connect`, `@on_activity`, `@on_disconnect`). The gateway discovers those modules at
start-up (VideochatConfig.ready) and never names an app itself.

This module imports no models, so `from videochat.gateway import event` works before the
app registry is ready."""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from django.core.exceptions import ImproperlyConfigured
from rest_framework.exceptions import ValidationError

from videochat.gateway.notify import anotify_channel

if TYPE_CHECKING:
    from rest_framework.serializers import Serializer

    # AUTH_USER_MODEL, named for type checkers only.
    from accounts.models import User

Frame = dict[str, Any]
Handler = Callable[["EventContext", dict[str, Any]], Awaitable[dict[str, Any] | None]]
Hook = Callable[["EventContext"], Awaitable[None]]
Moment = Literal["connect", "activity", "disconnect"]

HandlerT = TypeVar("HandlerT", bound=Handler)
HookT = TypeVar("HookT", bound=Hook)

# `<area>:<action>`, the shape of every type in API.md; it also keeps the gateway's own
# reply types (`ack`, `error`) out of reach.
EVENT_TYPE = re.compile(r"[a-z][a-z0-9_]*:[a-z][a-z0-9_]*")


@dataclass(frozen=True, slots=True)
class EventContext:
    """One authenticated socket, as its handlers and hooks see it. The same object serves
    every frame of the socket, so `state` carries what an app wants to remember for the
    socket's lifetime (key it by app, e.g. "accounts.presence_status")."""

    user: User
    channel_name: str
    state: dict[str, Any]
    send_frame: Callable[[Frame], Awaitable[None]] = field(repr=False)

    @property
    def user_id(self) -> int:
        return self.user.pk

    async def send(self, type: str, data: dict[str, Any]) -> None:
        """Send `{"type": type, "data": data}` to this socket only, at once (use notify() to
        reach all of a user's sockets). Only once the socket is accepted: not in connect
        hooks."""
        await self.send_frame({"type": type, "data": data})

    async def push(self, type: str, data: dict[str, Any]) -> None:
        """Push `{"type": type, "data": data}` to this socket only, through the channel
        layer like notify(): it queues behind the pushes sent to the socket before it, and
        connect hooks may use it (it goes out once the socket is accepted)."""
        await anotify_channel(self.channel_name, type, data)


@dataclass(frozen=True, slots=True)
class EventSpec:
    event_type: str
    handler: Handler
    data: type[Serializer[Any]] | None
    # One instance validates every frame: DRF deep-copies a serializer's fields for each
    # new instance, which cost a tenth of a chat message's server CPU.
    validator: Serializer[Any] | None = field(default=None, repr=False)

    def validated(self, data: Any) -> Any:
        """The frame's data as the serializer validates it (the raw data without one).
        An invalid frame is checked again by a fresh instance, so that its error reads
        exactly as `is_valid()` words it (a missing object included)."""
        if self.data is None or self.validator is None:
            return data
        try:
            return self.validator.run_validation(data)
        except ValidationError:
            serializer = self.data(data=data)
            serializer.is_valid(raise_exception=True)
            return serializer.validated_data


class EventRegistry:
    def __init__(self) -> None:
        self._events: dict[str, EventSpec] = {}
        self._hooks: dict[Moment, list[Hook]] = {"connect": [], "activity": [], "disconnect": []}

    def event(
        self, event_type: str, *, data: type[Serializer[Any]] | None = None
    ) -> Callable[[HandlerT], HandlerT]:
        """Decorator: `handler(ctx, data)` answers client frames of this type. `data` is a
        DRF Serializer class that validates the frame's `data`; the handler then gets its
        `validated_data` (or the raw object when no serializer is given). The serializer
        runs on the event loop, so it checks shapes only and must not query the database.
        The handler's return value becomes the ack's `data`."""

        def register(handler: HandlerT) -> HandlerT:
            self.add(event_type, handler, data=data)
            return handler

        return register

    def add(
        self, event_type: str, handler: Handler, *, data: type[Serializer[Any]] | None = None
    ) -> None:
        if not EVENT_TYPE.fullmatch(event_type):
            raise ImproperlyConfigured(
                f"Event type {event_type!r} is not of the form 'area:action'."
            )
        if not inspect.iscoroutinefunction(handler):
            raise ImproperlyConfigured(f"The handler of {event_type!r} must be an async function.")
        if event_type in self._events:
            taken = self._events[event_type].handler
            raise ImproperlyConfigured(
                f"Event type {event_type!r} is already handled by "
                f"{taken.__module__}.{taken.__qualname__}."
            )
        self._events[event_type] = EventSpec(
            event_type=event_type,
            handler=handler,
            data=data,
            validator=data() if data is not None else None,
        )

    def remove(self, event_type: str) -> None:
        del self._events[event_type]

    def get(self, event_type: str) -> EventSpec | None:
        return self._events.get(event_type)

    def specs(self) -> tuple[EventSpec, ...]:
        """Every registered event, in registration order (for tools and tests that must
        cover all of them)."""
        return tuple(self._events.values())

    def add_hook(self, moment: Moment, hook: Hook) -> None:
        if not inspect.iscoroutinefunction(hook):
            raise ImproperlyConfigured(f"The {moment} hook {hook.__qualname__} must be async.")
        self._hooks[moment].append(hook)

    def remove_hook(self, moment: Moment, hook: Hook) -> None:
        self._hooks[moment].remove(hook)

    def hooks(self, moment: Moment) -> tuple[Hook, ...]:
        return tuple(self._hooks[moment])


registry = EventRegistry()
event = registry.event


def on_connect(hook: HookT) -> HookT:
    """Decorator: run `hook(ctx)` once a socket is authenticated and accepted."""
    registry.add_hook("connect", hook)
    return hook


def on_activity(hook: HookT) -> HookT:
    """Decorator: run `hook(ctx)` when frames arrive on a socket, at most once per
    GatewayConsumer.activity_interval_seconds (a liveness signal, not a per-frame hook)."""
    registry.add_hook("activity", hook)
    return hook


def on_disconnect(hook: HookT) -> HookT:
    """Decorator: run `hook(ctx)` after an authenticated socket closed (it has already left
    the user's group)."""
    registry.add_hook("disconnect", hook)
    return hook
