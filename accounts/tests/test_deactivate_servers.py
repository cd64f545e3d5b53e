"""A ban with the user's sockets on two real uvicorn processes: both close with 4401 at
once, the call they were in ends with reason `banned` for the other party, who sits on one
of those processes, and nothing on either server lets the user back in."""

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect

from accounts.presence import presence_status
from accounts.services import user_deactivate
from chat.documents import Message
from chat.services import message_store
from tests.factories import PASSWORD
from tests.servers import HOST, Servers, close_code, next_frame, request, running_servers
from videochat.gateway.testing import device, sync_thread_connections_closed  # noqa: F401
from wallet.ledger.services import wallet_adjust

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
    pytest.mark.servers,
]


@pytest.fixture
def servers(transactional_db: None, tmp_path: Path) -> Iterator[Servers]:
    """Two uvicorn processes ("web" and "web2") on the test database and Redis."""
    with running_servers(tmp_path, web=2, static=False) as started:
        yield started


async def test_a_ban_closes_the_sockets_on_both_servers_and_ends_the_call(
    mongo_db, alice, bob, hana, servers
):
    port_a, port_b = servers.ports
    hana.rate_per_minute = 60
    await hana.asave(update_fields=["rate_per_minute"])
    await sync_to_async(wallet_adjust)(
        user_id=alice.pk, amount=500, idempotency_key="fund", reason="test"
    )
    message_store(sender_id=bob.pk, to=alice.pk, text="hi", client_id="b1")
    Message.objects.update(set__status="read")
    status, pair = await asyncio.to_thread(
        request, port_a, "POST", "/api/v1/auth/token",
        body={"email": alice.email, "password": PASSWORD},
    )  # fmt: skip
    assert status == 200, pair
    hana_status, hana_pair = await asyncio.to_thread(
        request, port_b, "POST", "/api/v1/auth/token",
        body={"email": hana.email, "password": PASSWORD},
    )  # fmt: skip
    assert hana_status == 200, hana_pair

    def url(port: int, token: str) -> str:
        return f"ws://{HOST}:{port}/ws/?token={token}"

    async with (
        device(bob) as watcher,
        connect(url(port_b, hana_pair["access"]), open_timeout=5) as host,
        connect(url(port_a, pair["access"]), open_timeout=5) as phone,
        connect(url(port_b, pair["access"]), open_timeout=5) as laptop,
    ):
        assert await watcher.push("presence:update") == {"user_id": alice.pk, "status": "online"}
        status, call = await asyncio.to_thread(
            request, port_a, "POST", "/api/v1/calls", token=pair["access"],
            body={"callee_id": hana.pk},
        )  # fmt: skip
        assert status == 201, call
        assert await watcher.push("presence:update") == {"user_id": alice.pk, "status": "busy"}
        await next_frame(host, "call:invite")
        answer = {"call_id": call["id"], "accept": True}
        await host.send(json.dumps({"type": "call:answer", "data": answer}))
        await next_frame(host, "call:answer")

        await sync_to_async(user_deactivate)(user=alice)

        assert await close_code(phone) == 4401
        assert await close_code(laptop) == 4401
        ended = (await next_frame(host, "call:end"))["data"]
        assert (ended["call_id"], ended["reason"], ended["ended_by"]) == (
            call["id"],
            "banned",
            alice.pk,
        )
        assert presence_status(user_id=alice.pk) == "offline"
        # Straight from busy to offline: never "online" in between.
        assert await watcher.push("presence:update") == {"user_id": alice.pk, "status": "offline"}
        assert await watcher.nothing()

    for port in (port_a, port_b):
        status, body = await asyncio.to_thread(
            request, port, "GET", "/api/v1/me", token=pair["access"]
        )
        assert (status, body["error"]["code"]) == (401, "not_authenticated")
        status, body = await asyncio.to_thread(
            request, port, "POST", "/api/v1/auth/token/refresh", body={"refresh": pair["refresh"]}
        )
        assert (status, body["error"]["code"]) == (401, "not_authenticated")
        async with connect(url(port, pair["access"]), open_timeout=5) as again:
            assert await close_code(again) == 4401
