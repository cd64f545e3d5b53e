"""Chat over real in-process sockets (API.md, WebSocket: `chat:*`), against the real mongod
and Redis: acks carry stored messages, pushes reach the recipient, receipts reach the
sender, typing is relayed and never stored, offline messages arrive on connect."""

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from accounts.models import Block
from chat.documents import Conversation, Message
from chat.services import TYPING_RATE
from videochat.gateway.testing import (  # noqa: F401
    device,
    sync_thread_connections_closed,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("mongo_db")]


def message_in(to: int, text: str = "hi", client_id: str = "c-1") -> dict[str, Any]:
    return {"to": to, "text": text, "client_id": client_id}


async def test_a_message_is_acked_stored_and_pushed_to_every_socket(alice, bob):
    async with device(alice) as sender, device(bob) as phone, device(bob) as laptop:
        reply = await sender.request("chat:message", message_in(bob.pk, " hello "))
        assert reply["type"] == "ack", reply
        message = reply["data"]["message"]
        assert message["text"] == "hello" and message["status"] == "sent"
        stored = await sync_to_async(Message.objects.get)(id=message["id"])
        assert stored.text == "hello"
        for socket in (phone, laptop):
            assert (await socket.push("chat:message"))["message"] == message
        assert await sender.nothing()


async def test_the_same_client_id_twice_acks_the_same_message_and_pushes_once(alice, bob):
    async with device(alice) as sender, device(bob) as receiver:
        first = await sender.request("chat:message", message_in(bob.pk, "one", "dup"))
        again = await sender.request("chat:message", message_in(bob.pk, "one", "dup"))
        assert first["data"] == again["data"]
        await receiver.push("chat:message")
        assert await receiver.nothing()
        assert await sync_to_async(Message.objects.count)() == 1


async def test_errors_over_the_socket_store_nothing(alice, bob):
    await sync_to_async(Block.objects.create)(blocker=bob, blocked=alice)
    async with device(alice) as sender, device(bob) as receiver:
        blocked = await sender.request("chat:message", message_in(bob.pk))
        assert blocked["error"]["code"] == "blocked"
        blank = await sender.request("chat:message", message_in(bob.pk, "   "))
        assert blank["error"]["code"] == "validation_error"
        unknown = await sender.request("chat:message", message_in(999_999))
        assert unknown["error"]["code"] == "not_found"
        bad = await sender.request("chat:message", {"to": bob.pk})
        assert bad["error"]["code"] == "validation_error"
        assert await receiver.nothing()
    assert await sync_to_async(Message.objects.count)() == 0


async def test_delivered_then_read_receipts_and_never_backwards(alice, bob):
    async with device(alice) as sender, device(bob) as receiver:
        sent = (await sender.request("chat:message", message_in(bob.pk)))["data"]["message"]
        await receiver.push("chat:message")

        reply = await receiver.request("chat:delivered", {"message_ids": [sent["id"]]})
        assert reply["type"] == "ack"
        receipt = await sender.push("chat:receipt")
        assert receipt == {"message_ids": [sent["id"]], "status": "delivered"}

        read = await receiver.request("chat:read", {"conversation_id": sent["conversation_id"]})
        assert read["type"] == "ack"
        assert await sender.push("chat:receipt") == {
            "message_ids": [sent["id"]],
            "status": "read",
        }
        conversation = await sync_to_async(Conversation.objects.get)()
        assert conversation.unread[str(bob.pk)] == 0

        # A late delivered receipt never moves read back, and sends nothing.
        await receiver.request("chat:delivered", {"message_ids": [sent["id"]]})
        assert await sender.nothing()
        stored = await sync_to_async(Message.objects.get)(id=sent["id"])
        assert stored.status == "read" and stored.delivered_at and stored.read_at


async def test_only_the_receiver_marks_delivered_and_only_participants_read(alice, bob, hana):
    async with device(alice) as sender, device(hana) as stranger:
        sent = (await sender.request("chat:message", message_in(bob.pk)))["data"]["message"]
        await sender.request("chat:delivered", {"message_ids": [sent["id"]]})
        await stranger.request("chat:delivered", {"message_ids": [sent["id"]]})
        reply = await stranger.request("chat:read", {"conversation_id": sent["conversation_id"]})
        assert reply["error"]["code"] == "not_found"
        assert await sender.nothing()
    assert (await sync_to_async(Message.objects.get)(id=sent["id"])).status == "sent"


async def test_typing_is_relayed_when_online_never_stored_and_rate_limited(alice, bob):
    async with device(alice) as typist:
        # bob offline: acked, relayed nowhere
        assert (await typist.request("chat:typing", {"to": bob.pk}))["type"] == "ack"
        async with device(bob) as other:
            await sync_to_async(_reset_rate)()
            reply = await typist.request("chat:typing", {"to": bob.pk, "is_typing": False})
            assert reply["type"] == "ack"
            assert await other.push("chat:typing") == {"from": alice.pk, "is_typing": False}
            limited = None
            for _ in range(TYPING_RATE[0] + 1):
                limited = await typist.request("chat:typing", {"to": bob.pk})
            assert limited is not None and limited["error"]["code"] == "rate_limited"
            # Whole seconds, as REST's Retry-After: the window is 1 s.
            assert limited["error"]["details"] == {"retry_after": 1}
    assert await sync_to_async(Message.objects.count)() == 0
    assert await sync_to_async(Conversation.objects.count)() == 0


def _reset_rate() -> None:
    from django.conf import settings
    from django_redis import get_redis_connection

    redis = get_redis_connection("default")
    for key in redis.scan_iter(match=f"{settings.REDIS_PREFIX}:chat:rate:*"):
        redis.delete(key)


async def test_typing_to_or_from_a_blocked_user_is_not_relayed(alice, bob):
    await sync_to_async(Block.objects.create)(blocker=bob, blocked=alice)
    async with device(alice) as typist, device(bob) as other:
        assert (await typist.request("chat:typing", {"to": bob.pk}))["type"] == "ack"
        assert await other.nothing()


async def test_offline_messages_arrive_on_connect_and_senders_get_delivered(alice, bob):
    async with device(alice) as sender:
        first = (await sender.request("chat:message", message_in(bob.pk, "one", "a")))["data"]
        second = (await sender.request("chat:message", message_in(bob.pk, "two", "b")))["data"]
        ids = [first["message"]["id"], second["message"]["id"]]
        async with device(bob) as receiver:
            got = [await receiver.push("chat:message") for _ in ids]
            assert [m["message"]["id"] for m in got] == ids  # oldest first
            # bob came online, and alice has a conversation with him (docs/presence.md).
            online = {"user_id": bob.pk, "status": "online"}
            assert await sender.push("presence:update") == online
            receipt = await sender.push("chat:receipt")
            assert receipt == {"message_ids": ids, "status": "delivered"}
            assert await receiver.nothing()
        statuses = await sync_to_async(lambda: [m.status for m in Message.objects])()
        assert statuses == ["delivered", "delivered"]
        # Delivered is not read: the unread count stays until chat:read.
        conversation = await sync_to_async(Conversation.objects.get)()
        assert conversation.unread[str(bob.pk)] == 2
        async with device(bob) as again:
            assert await again.nothing()  # nothing handed out twice
