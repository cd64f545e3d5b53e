"""Chat across two real uvicorn processes sharing Redis, PostgreSQL and MongoDB: alice on
server A, bob on server B. A message sent while bob is offline reaches him when he connects
to the other server, and every push and receipt crosses processes."""

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect

from chat.documents import Message
from tests.servers import Servers, next_frame, request, running_servers, socket_url
from videochat.gateway.testing import socket_token, sync_thread_connections_closed  # noqa: F401

pytestmark = [
    pytest.mark.servers,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("mongo_db"),
    pytest.mark.timeout(90),
]


@pytest.fixture
def servers(transactional_db: None, tmp_path: Path) -> Iterator[Servers]:
    with running_servers(tmp_path, web=2, static=False) as started:
        yield started


async def test_offline_message_then_live_chat_across_two_servers(alice, bob, servers):
    port_a, port_b = servers.ports
    async with connect(socket_url(port_a, alice), open_timeout=5) as alice_ws:
        await alice_ws.send(
            json.dumps(
                {
                    "type": "chat:message",
                    "ref": 1,
                    "data": {"to": bob.pk, "text": "are you there?", "client_id": "a-1"},
                }
            )
        )
        ack = await next_frame(alice_ws, "ack")
        message = ack["data"]["message"]
        assert message["status"] == "sent"

        async with connect(socket_url(port_b, bob), open_timeout=5) as bob_ws:
            # Offline delivery on connect, on the other server.
            pushed = await next_frame(bob_ws, "chat:message")
            assert pushed["data"]["message"]["id"] == message["id"]
            receipt = await next_frame(alice_ws, "chat:receipt")
            assert receipt["data"] == {"message_ids": [message["id"]], "status": "delivered"}

            # bob answers over REST on server B: alice's socket on A gets it.
            status, reply = await asyncio.to_thread(
                request,
                port_b,
                "POST",
                "/api/v1/chat/messages",
                token=socket_token(bob),
                body={"to": alice.pk, "text": "yes", "client_id": "b-1"},
            )
            assert status == 201, reply
            got = await next_frame(alice_ws, "chat:message")
            assert got["data"]["message"] == reply

            # Typing and read receipts cross too.
            await alice_ws.send(json.dumps({"type": "chat:typing", "data": {"to": bob.pk}}))
            typing = await next_frame(bob_ws, "chat:typing")
            assert typing["data"] == {"from": alice.pk, "is_typing": True}
            await alice_ws.send(
                json.dumps(
                    {
                        "type": "chat:read",
                        "ref": 2,
                        "data": {"conversation_id": reply["conversation_id"]},
                    }
                )
            )
            assert (await next_frame(alice_ws, "ack"))["ref"] == 2
            read = await next_frame(bob_ws, "chat:receipt")
            assert read["data"] == {"message_ids": [reply["id"]], "status": "read"}

    status, page = await asyncio.to_thread(
        request, port_a, "GET", "/api/v1/chat/conversations", token=socket_token(bob)
    )
    assert status == 200
    assert page["results"][0]["unread_count"] == 1  # delivered to bob, not read yet
    assert page["results"][0]["last_message"]["text"] == "yes"
    status, page = await asyncio.to_thread(
        request, port_b, "GET", "/api/v1/chat/conversations", token=socket_token(alice)
    )
    assert page["results"][0]["unread_count"] == 0  # alice read bob's answer
    # The servers wrote to this test's MongoDB database.
    assert await sync_to_async(Message.objects.count)() == 2
