"""notify(): pushes reach every socket of the user through the Redis channel layer, only
after commit, from sync code anywhere (views, Celery, threads) and from async code."""

import asyncio
import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.db import connections, transaction

from videochat.gateway import anotify, notify, user_group
from videochat.gateway.notify import channel_shard, group_channel
from videochat.gateway.testing import open_socket, sync_thread_connections_closed  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


async def test_every_socket_of_the_user_gets_the_push_and_nobody_else(alice, bob):
    async with open_socket(alice) as phone, open_socket(alice) as laptop, open_socket(bob) as other:
        await database_sync_to_async(notify)(alice.pk, "wallet:balance", {"balance": 120})
        for socket in (phone, laptop):
            assert await socket.receive_json_from(timeout=2) == {
                "type": "wallet:balance",
                "data": {"balance": 120},
            }
        assert await other.receive_nothing(timeout=0.3)


async def test_rolled_back_change_is_never_announced(alice):
    def change_then_roll_back() -> None:
        with transaction.atomic():
            notify(alice.pk, "wallet:balance", {"balance": 999})
            transaction.set_rollback(True)

    def change_and_commit() -> None:
        with transaction.atomic():
            notify(alice.pk, "wallet:balance", {"balance": 5})
            # Not before the commit.
            assert transaction.get_connection().run_on_commit

    async with open_socket(alice) as socket:
        await database_sync_to_async(change_then_roll_back)()
        assert await socket.receive_nothing(timeout=0.5)
        await database_sync_to_async(change_and_commit)()
        assert (await socket.receive_json_from(timeout=2))["data"] == {"balance": 5}


async def test_push_from_a_thread_without_event_loop_like_a_celery_worker(alice):
    async with open_socket(alice) as socket:
        worker = threading.Thread(target=notify, args=(alice.pk, "call:end", {"call_id": 3}))
        worker.start()
        await asyncio.to_thread(worker.join, 5)
        assert await socket.receive_json_from(timeout=2) == {
            "type": "call:end",
            "data": {"call_id": 3},
        }


async def test_anotify(alice):
    async with open_socket(alice) as socket:
        await anotify(alice.pk, "chat:typing", {"from": 2, "is_typing": True})
        assert (await socket.receive_json_from(timeout=2))["type"] == "chat:typing"


async def test_a_push_outside_a_transaction_goes_at_once_without_postgresql(alice):
    # What MongoDB-only services (chat receipts) rely on: no PostgreSQL connection is opened
    # to learn that no transaction is open.
    def push() -> bool:
        connections.close_all()
        notify(alice.pk, "chat:typing", {"is_typing": False})
        return connections["default"].connection is None

    async with open_socket(alice) as socket:
        assert await asyncio.to_thread(push)
        assert (await socket.receive_json_from(timeout=2))["data"] == {"is_typing": False}


async def test_serializer_output_types_are_encoded(alice):
    async with open_socket(alice) as socket:
        at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
        await anotify(alice.pk, "test:types", {"at": at, "price": Decimal("4.99")})
        data = (await socket.receive_json_from(timeout=2))["data"]
        assert data == {"at": "2025-01-02T03:04:05Z", "price": "4.99"}


def test_data_that_is_not_json_fails_in_the_caller():
    with pytest.raises(TypeError):
        notify(1, "test:bad", {"oops": object()})


@pytest.mark.slow
@pytest.mark.timeout(30)
async def test_idle_socket_still_gets_a_push_after_seven_seconds(alice):
    # DESIGN.md's trap: redis-py's 5 s socket timeout cut idle channel-layer reads.
    async with open_socket(alice) as socket:
        assert await socket.receive_nothing(timeout=7, interval=0.5)
        await database_sync_to_async(notify)(alice.pk, "wallet:balance", {"balance": 1})
        assert (await socket.receive_json_from(timeout=2))["data"] == {"balance": 1}


@pytest.mark.parametrize("hosts", [1, 2, 3, 5])
async def test_pushes_are_published_where_the_layer_subscribes(hosts):
    # notify_many publishes on the pub/sub layer's Redis channel and host by hand
    # (channel_shard uses channels_redis' private hash): pinned against the layer itself.
    prefix = "test-prefix:"
    layer = RedisPubSubChannelLayer(
        hosts=[{"address": f"redis://127.0.0.1:6379/{i}"} for i in range(hosts)], prefix=prefix
    )
    loop_layer = layer._get_layer()
    for user_id in range(1, 300):
        group = user_group(user_id)
        channel = group_channel(prefix, group)
        assert channel == loop_layer._get_group_channel_name(group)
        assert loop_layer._get_shard(channel) is loop_layer._shards[channel_shard(channel, hosts)]
