"""A call across two real uvicorn processes sharing Redis and PostgreSQL: the caller on
server A, the callee on server B. Everything reaches the right sockets across processes;
and when server B dies without running any disconnect hook, the call still ends
(`disconnected`) once the callee's socket has aged out and the grace has passed."""

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone
from websockets.asyncio.client import connect

from calls.models import Call
from calls.services import call_end_disconnected
from tests.helpers import fund
from tests.servers import Servers, next_frame, request, running_servers, socket_url
from videochat.gateway.testing import socket_token, sync_thread_connections_closed  # noqa: F401

pytestmark = [pytest.mark.servers, pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]


@pytest.fixture
def servers(transactional_db: None, tmp_path: Path) -> Iterator[Servers]:
    """Two uvicorn processes ("web" and "web2") on the test database and Redis."""
    with running_servers(tmp_path, web=2, static=False) as started:
        yield started


async def test_a_call_across_two_servers_and_a_crash_of_the_callees(alice, hana, servers):
    port_a, port_b = servers.ports
    await sync_to_async(fund)(alice, 500)
    async with (
        connect(socket_url(port_b, hana), open_timeout=5) as callee,
        connect(socket_url(port_a, alice), open_timeout=5) as caller,
    ):
        status, call = await asyncio.to_thread(
            request,
            port_a,
            "POST",
            "/api/v1/calls",
            token=socket_token(alice),
            body={"callee_id": hana.pk},
        )
        assert status == 201, call
        assert (await next_frame(callee, "call:invite"))["data"]["call"]["id"] == call["id"]

        await callee.send(
            json.dumps({"type": "call:answer", "data": {"call_id": call["id"], "accept": True}})
        )
        for ws in (caller, callee):
            assert (await next_frame(ws, "call:answer"))["data"]["accepted"] is True

        offer = {"type": "offer", "sdp": "v=0"}
        await caller.send(
            json.dumps(
                {
                    "type": "call:signal",
                    "data": {"call_id": call["id"], "kind": "offer", "payload": offer},
                }
            )
        )
        relayed = (await next_frame(callee, "call:signal"))["data"]
        assert (relayed["payload"], relayed["from"]) == (offer, alice.pk)

        # Server B dies at once: no disconnect hook runs for the callee's socket.
        await asyncio.to_thread(servers.processes["web2"].kill)
        died = timezone.now()
        ttl = timedelta(seconds=settings.PRESENCE_TTL_SECONDS)
        grace = timedelta(seconds=settings.CALL_DISCONNECT_GRACE_SECONDS)

        assert await sync_to_async(call_end_disconnected)(now=died + grace) == 0
        assert await sync_to_async(call_end_disconnected)(now=died + ttl + grace) == 1

        end = (await next_frame(caller, "call:end"))["data"]
        assert (end["reason"], end["ended_by"], end["total_coins"]) == ("disconnected", hana.pk, 60)
        stored = await Call.objects.aget(pk=call["id"])
        assert (stored.status, stored.end_reason) == ("ended", "disconnected")
