"""The WebRTC signaling relay (API.md, WebSocket `call:signal`; docs/calls.md): a party's
offers, answers and ICE candidates pass to every socket of the other party while the call
rings or is active.

A signal is the most frequent frame of a call (ICE candidates come in bursts), so the
relay checks the parties in Redis, not in the database: one GET on the gateway's thread
pool instead of a query. The entry is written when the call starts ringing (relay_open) and
overwritten with a tombstone when it closes (relay_close), both after commit; the database
answers only when the entry is missing (Redis restarted, or a long call outlived it) and
refills it."""

from typing import Any

from django.conf import settings
from django_redis import get_redis_connection

from calls.selectors import call_parties_if_open
from videochat.errors import PermissionDenied
from videochat.gateway import anotify, blocking

RELAY_CACHE_SECONDS = 600
_CLOSED = "closed"


def _relay_key(call_id: int) -> str:
    return f"{settings.REDIS_PREFIX}:calls:relay:{call_id}"


def relay_open(*, call_id: int, parties: tuple[int, int]) -> None:
    """Let the parties (caller, callee) of a call that started ringing signal each other."""
    get_redis_connection("default").set(
        _relay_key(call_id), f"{parties[0]}:{parties[1]}", ex=RELAY_CACHE_SECONDS
    )


def relay_close(*, call_id: int) -> None:
    """Stop the relay of a closed call. The tombstone stops relays at once and keeps a
    concurrent refill (which read the call as open just before) from reopening it."""
    get_redis_connection("default").set(_relay_key(call_id), _CLOSED, ex=RELAY_CACHE_SECONDS)


def _relay_cached(call_id: int) -> str | None:
    value: bytes | None = get_redis_connection("default").get(_relay_key(call_id))
    return value.decode() if value is not None else None


def _relay_refill(call_id: int, parties: tuple[int, int]) -> None:
    # nx: a tombstone written since the database was read wins.
    get_redis_connection("default").set(
        _relay_key(call_id), f"{parties[0]}:{parties[1]}", ex=RELAY_CACHE_SECONDS, nx=True
    )


_relay_cached_async = blocking(_relay_cached)
_relay_refill_async = blocking(_relay_refill)
_parties_if_open_async = blocking(call_parties_if_open)


async def call_signal_relay(
    *, call_id: int, sender_id: int, kind: str, payload: dict[str, Any] | str
) -> None:
    """Pass a WebRTC signal to every socket of the other party, as `call:signal` with
    `from`. Only a party may signal, and only while the call rings or is active; anyone
    else (unknown calls included, so ids don't leak) gets PermissionDenied."""
    cached = await _relay_cached_async(call_id)
    parties: tuple[int, int] | None
    if cached is None:
        parties = await _parties_if_open_async(call_id=call_id)
        if parties is not None:
            await _relay_refill_async(call_id, parties)
    elif cached == _CLOSED:
        parties = None
    else:
        caller_id, callee_id = cached.split(":")
        parties = (int(caller_id), int(callee_id))
    if parties is None or sender_id not in parties:
        raise PermissionDenied("You are not in this call.")
    other_id = parties[1] if sender_id == parties[0] else parties[0]
    await anotify(
        other_id,
        "call:signal",
        {"call_id": call_id, "kind": kind, "payload": payload, "from": sender_id},
    )
