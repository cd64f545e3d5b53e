"""Server pushes: `notify()` is how services tell a user's open sockets that something
happened, on whichever server process holds them (the Redis channel layer carries it)."""

import logging
from collections.abc import Iterable
from typing import Any

import redis
from asgiref.sync import async_to_sync
from channels.layers import DEFAULT_CHANNEL_LAYER, get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from channels_redis.utils import _consistent_hash, decode_hosts
from django.conf import settings
from django.db import transaction

from videochat.gateway.frames import encode_frame

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    """The channel-layer group every socket of one user joins."""
    return f"user.{user_id}"


def _push_message(type: str, data: dict[str, Any]) -> dict[str, Any]:
    # Encoded here, once: every socket forwards the same text, and data that is not JSON
    # fails in the caller instead of in some consumer. GatewayConsumer.gateway_push sends it.
    return {"type": "gateway.push", "text": encode_frame({"type": type, "data": data})}


def _layer() -> Any:
    # channels is untyped: RedisPubSubChannelLayer in production, any layer in principle.
    layer = get_channel_layer()
    assert layer is not None, "CHANNEL_LAYERS is not configured"
    return layer


async def _group_send(user_id: int, message: dict[str, Any]) -> None:
    await _layer().group_send(user_group(user_id), message)


def notify(user_id: int, type: str, data: dict[str, Any]) -> None:
    """Push the frame `{"type": type, "data": data}` to every socket of the user, once the
    surrounding database transaction commits (at once when there is none). A rolled-back
    change is never announced. For sync code: services, views, Celery tasks."""
    notify_many([(user_id, type, data)])


async def anotify(user_id: int, type: str, data: dict[str, Any]) -> None:
    """notify() for async code (WebSocket handlers): pushes at once, since async code runs
    no database transaction of its own; raises if Redis refuses."""
    await _group_send(user_id, _push_message(type, data))


async def anotify_channel(channel_name: str, type: str, data: dict[str, Any]) -> None:
    """Push to the one socket that holds `channel_name` (EventContext.push), at once;
    raises if Redis refuses."""
    await _layer().send(channel_name, _push_message(type, data))


# Sync Redis clients of notify_many(), one per channel-layer host, made on first use. Each holds
# a connection pool (reset by redis-py in a forked Celery child), so a process reuses its
# connection from one billing tick to the next.
_publishers: dict[str, redis.Redis] = {}


def _publisher(host: dict[str, Any]) -> redis.Redis:
    options = dict(host)
    address = options.pop("address")
    client = _publishers.get(address)
    if client is None:
        # A bounded wait: a Redis that stops answering must not hang the tick that pushes.
        options.setdefault("socket_timeout", 5)
        client = _publishers[address] = redis.Redis.from_url(address, **options)
    return client


def notify_many(pushes: Iterable[tuple[int, str, dict[str, Any]]]) -> None:
    """notify() for many pushes at once: `(user_id, type, data)` each, sent after the
    surrounding transaction commits, in order. With the pub/sub channel layer they go out as
    one pipeline of PUBLISH commands per Redis host instead of one connection and event loop
    per push: what a billing tick pushing 20,000 balances needs."""
    messages = [(user_group(user_id), _push_message(type, data)) for user_id, type, data in pushes]
    if messages:
        _publish_on_commit(messages, f"{len(messages)} pushes")


def disconnect_user(user_id: int, *, session: str | None = None, reason: str) -> None:
    """Close sockets of the user with code 4401 (`reason` as the close reason), on every
    server process, once the surrounding transaction commits: all of them, or with `session`
    only those opened with an access token of that login session (its `sid` claim). Frames
    a closed socket still had waiting are dropped unhandled. For sync code, like notify()."""
    message = {"type": "gateway.disconnect", "session": session, "reason": reason}
    _publish_on_commit([(user_group(user_id), message)], f"disconnect of user {user_id}")


def _publish_on_commit(messages: list[tuple[str, dict[str, Any]]], what: str) -> None:
    def deliver() -> None:
        try:
            _publish_many(messages)
        except Exception:
            # Committed already: clients catch up over REST, and a socket left open by a
            # lost disconnect still meets its token's expiry.
            logger.exception("%s failed", what)

    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(deliver)
    else:
        # What on_commit would do outside a transaction, without the PostgreSQL connection
        # it opens to ask: MongoDB-only services (chat) push without touching PostgreSQL.
        deliver()


# How RedisPubSubChannelLayer names a group's Redis channel and picks the host for it: not
# its public API (the hash is channels_redis' private _consistent_hash), so requirements.txt
# pins channels_redis exactly and test_gateway_notify.py checks both against the layer. A
# push published on another host than the one the sockets' processes subscribed on would
# reach nobody.


def group_channel(prefix: str, group: str) -> str:
    """The Redis channel the pub/sub layer carries `group`'s messages on."""
    return f"{prefix}__group__{group}"


def channel_shard(channel: str, hosts: int) -> int:
    """The index of the host, of `hosts`, that the pub/sub layer uses for `channel`."""
    return _consistent_hash(channel, hosts)


def _publish_many(messages: list[tuple[str, dict[str, Any]]]) -> None:
    layer = _layer()
    layers: dict[str, dict[str, Any]] = settings.CHANNEL_LAYERS
    config = layers[DEFAULT_CHANNEL_LAYER].get("CONFIG", {})
    hosts = decode_hosts(config.get("hosts"))
    if not isinstance(layer, RedisPubSubChannelLayer) or any("address" not in h for h in hosts):
        # Another layer, or hosts given as host/port or sentinels: the layer sends, one
        # group_send after the other in one event loop (slower, same frames).
        async_to_sync(_group_send_many)(messages)
        return
    # RedisPubSubChannelLayer.group_send, done by hand: the group's channel name, the shard
    # the layer picks for it, the layer's serializer (msgpack), one PUBLISH.
    prefix = config.get("prefix", "asgi")
    pipelines: dict[int, redis.client.Pipeline] = {}
    for group, message in messages:
        channel = group_channel(prefix, group)
        shard = channel_shard(channel, len(hosts))
        if shard not in pipelines:
            pipelines[shard] = _publisher(hosts[shard]).pipeline(transaction=False)
        pipelines[shard].publish(channel, layer.serialize(message))
    for pipeline in pipelines.values():
        pipeline.execute()


async def _group_send_many(messages: list[tuple[str, dict[str, Any]]]) -> None:
    layer = _layer()
    for group, message in messages:
        await layer.group_send(group, message)
