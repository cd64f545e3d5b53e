"""The one WebSocket every client holds (DESIGN.md, "One socket per client"). It
authenticates, joins the user's group, checks the envelope, throttles, and dispatches each
frame to the handler an app registered; it knows no app itself.

A socket's frames are handled in order by a task of their own, so that pushes to the socket
(other users' messages, receipts, call signals) go out while its own last frame is still
being stored: Channels runs a consumer's events one after the other, and a push would
otherwise wait for the round trips of every frame ahead of it."""

import asyncio
import logging
from time import monotonic, time
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework.exceptions import APIException

from videochat.errors import (
    ApplicationError,
    RateLimited,
    ValidationFailed,
    api_exception_handler,
    error_body,
    store_unavailable,
)
from videochat.gateway.frames import (
    FrameTooLarge,
    Ref,
    ack_frame,
    decode_frame,
    encode_frame,
    error_frame,
    read_event,
    read_ref,
)
from videochat.gateway.notify import user_group
from videochat.gateway.registry import EventContext, Moment, registry
from videochat.gateway.throttle import TokenBucket

logger = logging.getLogger(__name__)

# Close code for a missing, bad or expired token (API.md, WebSocket), and for a socket whose
# user was deactivated or whose login session ended (disconnect_user).
CLOSE_NOT_AUTHENTICATED = 4401

# What the REST API answers as a client error (4xx), and so does the socket.
CLIENT_ERRORS = (ApplicationError, APIException, Http404, PermissionDenied)


class GatewayConsumer(AsyncJsonWebsocketConsumer):
    max_frame_bytes = 64 * 1024
    rate_per_second = 20.0
    rate_burst = 40
    # Activity hooks (presence) run at most this often per socket; the presence key lives
    # PRESENCE_TTL_SECONDS (60), so refreshing every frame would only load Redis.
    activity_interval_seconds = 10.0

    ctx: EventContext | None = None  # set once the socket is authenticated
    # The access token's `exp` (epoch seconds) and login session, from JWTAuthMiddleware.
    token_expires_at: float
    session: str | None
    # Set once the server closes the socket for authentication: nothing more is handled.
    cut_off = False
    bucket: TokenBucket
    last_activity: float
    # Frames received and not yet handled, each with the throttle's verdict; bounded, so a
    # client that floods faster than its frames are handled is held back by TCP.
    inbox: "asyncio.Queue[tuple[str | None, bool] | None]"
    frames: "asyncio.Task[None]"

    async def connect(self) -> None:
        user = self.scope.get("user")
        subprotocol = self.scope.get("subprotocol")
        if user is None:
            # A 4xxx close code reaches the client only on an accepted socket.
            await self.accept(subprotocol)
            await self.close(code=CLOSE_NOT_AUTHENTICATED, reason="not_authenticated")
            return
        self.token_expires_at = self.scope["token_expires_at"]
        self.session = self.scope["session"]
        group = user_group(user.pk)
        # Join before accepting: once the client sees the socket open, no push may miss it.
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups.append(group)  # websocket_disconnect leaves every group listed here
        self.ctx = EventContext(
            user=user, channel_name=self.channel_name, state={}, send_frame=self.send_frame
        )
        self.bucket = TokenBucket(rate=self.rate_per_second, burst=self.rate_burst)
        self.inbox = asyncio.Queue(maxsize=self.rate_burst)
        self.frames = asyncio.create_task(self.handle_frames())
        # Hooks first, so that whatever they set up (presence) holds once the client sees
        # the socket open.
        await self.run_hooks("connect")
        self.last_activity = monotonic()
        await self.accept(subprotocol)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its close_old_connections() before every event: that
        is a hop to the process's one ORM thread per frame and per push, which queued a
        busy server's pushes behind each other. This consumer reaches the ORM only through
        `blocking()`, whose calls take a connection from the pool and give it back."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def disconnect(self, code: int) -> None:
        if self.ctx is None:
            return
        # The frames the client sent before closing are still handled (a message sent
        # just before going offline is stored), then the hooks run.
        await self.inbox.put(None)
        await self.frames
        await self.run_hooks("disconnect")

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.ctx is None or self.cut_off:
            return  # a socket that is being closed for authentication
        # Every frame spends a token on arrival, malformed ones included; the verdict is
        # given after parsing so that a refused frame's reply still carries its ref.
        await self.inbox.put((text_data, self.bucket.take(monotonic())))

    async def handle_frames(self) -> None:
        while (item := await self.inbox.get()) is not None:
            if self.cut_off:
                continue  # what was still waiting when the socket was cut off is dropped
            try:
                await self.handle_frame(*item)
            except Exception:
                # Only sending the reply can fail here (the socket went away).
                logger.debug("WebSocket reply not sent", exc_info=True)

    async def handle_frame(self, text_data: str | None, allowed: bool) -> None:
        # Checked per frame, not by a timer: an idle socket past its token's expiry harms
        # nobody, one that sends must not be served.
        if time() >= self.token_expires_at:
            await self.cut(reason="token_expired")
            return
        now = monotonic()
        if now - self.last_activity >= self.activity_interval_seconds:
            self.last_activity = now
            await self.run_hooks("activity")

        ref: Ref = None
        event_type: str | None = None
        try:
            payload = decode_frame(text_data, max_bytes=self.max_frame_bytes)
            ref = read_ref(payload)
            event_type, data = read_event(payload)
            if not allowed:
                raise RateLimited("Too many frames; slow down.", retry_after=self.bucket.wait())
            result = await self.dispatch_event(event_type, data)
            if ref is None:
                return
            text = encode_frame(ack_frame(ref, result))
        except Exception as exc:
            if isinstance(exc, FrameTooLarge):
                ref = exc.ref
            text = encode_frame(error_frame(ref, self.error_body_for(exc, event_type)))
        await self.send(text_data=text)

    def error_body_for(self, exc: Exception, event_type: str | None) -> dict[str, Any]:
        """The REST API's error body for the same exception, so both doors say the same
        thing (a store outage is `service_unavailable`); anything unexpected is logged (call
        from the except block) and hidden."""
        if isinstance(exc, CLIENT_ERRORS) or store_unavailable(exc):
            return api_exception_handler(exc, {"where": f"socket event {event_type}"}).data
        assert self.ctx is not None
        logger.exception("WebSocket event %s of user %s failed", event_type, self.ctx.user_id)
        return error_body("server_error", "Something went wrong on our side.")

    async def dispatch_event(self, event_type: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """Run the registered handler; its return value is the ack's data."""
        assert self.ctx is not None
        spec = registry.get(event_type)
        if spec is None:
            shown = repr(event_type[:64])  # the type came from the client: keep the echo short
            raise ValidationFailed(
                f"Unknown event type {shown}.", details={"type": [f"Unknown type {shown}."]}
            )
        result = await spec.handler(self.ctx, spec.validated(data))
        if result is not None and not isinstance(result, dict):
            raise TypeError(f"The handler of {event_type!r} returned {type(result).__name__}")
        return result

    async def run_hooks(self, moment: Moment) -> None:
        """Hooks are side work (presence, cleanup): one failing must not cost the socket
        or keep the other hooks from running."""
        assert self.ctx is not None
        for hook in registry.hooks(moment):
            try:
                await hook(self.ctx)
            except Exception:
                logger.exception("WebSocket %s hook %s failed", moment, hook.__qualname__)

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=encode_frame(frame))

    async def gateway_push(self, message: dict[str, Any]) -> None:
        """A notify() from any process: the frame is already encoded, once for all sockets."""
        if not self.cut_off:
            await self.send(text_data=message["text"])

    async def gateway_disconnect(self, message: dict[str, Any]) -> None:
        """A disconnect_user() from any process: the user's access is gone (all sockets) or
        one login session ended (the sockets opened with its tokens)."""
        if message["session"] is None or message["session"] == self.session:
            await self.cut(reason=message["reason"])

    async def cut(self, *, reason: str) -> None:
        """Close this authenticated socket with 4401; frames not handled yet never will be.
        The disconnect hooks run as for any close, once the client's side has closed."""
        if not self.cut_off:
            self.cut_off = True
            await self.close(code=CLOSE_NOT_AUTHENTICATED, reason=reason)
