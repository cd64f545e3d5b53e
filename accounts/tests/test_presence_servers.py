"""A server process killed with its users' sockets open: no disconnect hook runs, yet the
users go offline when their TTL lapses, and beat's sweep announces it to their partners."""

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect

from accounts.discovery import presence_online_page
from accounts.presence import presence_status
from chat.documents import Message
from chat.services import message_store
from tests.servers import Servers, next_frame, running_servers, socket_url
from videochat.gateway.testing import device, sync_thread_connections_closed  # noqa: F401

pytestmark = [pytest.mark.servers, pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

TTL = 5


async def listed_for(viewer) -> list:
    page = sync_to_async(presence_online_page)
    found, _ = await page(viewer=viewer, role=None, gender=None, below=None, limit=5)
    return [item.user for item in found]


@pytest.fixture
def servers(transactional_db: None, tmp_path: Path) -> Iterator[Servers]:
    """One uvicorn process, a Celery worker and beat, with a short presence TTL and sweep."""
    env = {"PRESENCE_TTL_SECONDS": str(TTL), "PRESENCE_SWEEP_SECONDS": "1"}
    with running_servers(tmp_path, worker=True, beat=True, static=False, env=env) as started:
        yield started


async def test_users_of_a_killed_server_go_offline_by_ttl(mongo_db, alice, bob, servers):
    message_store(sender_id=bob.pk, to=alice.pk, text="hi", client_id="b1")
    Message.objects.update(set__status="read")
    assert servers.port is not None
    async with (
        device(bob) as watcher,
        connect(socket_url(servers.port, alice), open_timeout=5) as ws,
    ):
        await ws.send('{"type": "presence:update", "ref": 1}')
        assert (await next_frame(ws, "ack"))["data"]["ttl"] == TTL
        assert await watcher.push("presence:update") == {
            "user_id": alice.pk,
            "status": "online",
        }
        assert await listed_for(bob) == [alice]

        killed_at = time.monotonic()
        await asyncio.to_thread(servers.processes["web"].kill)
        assert presence_status(user_id=alice.pk) == "online"  # as far as Redis knows
        while presence_status(user_id=alice.pk) == "online":
            assert time.monotonic() - killed_at < TTL + 1, "still online after the TTL"
            await asyncio.sleep(0.2)
        assert await listed_for(bob) == []

        # beat sweeps every second; the announcement may take a moment more.
        for _ in range(3):
            if watcher.pushes or not await watcher.socket.receive_nothing(timeout=2):
                break
        assert await watcher.push("presence:update") == {
            "user_id": alice.pk,
            "status": "offline",
        }
        assert await watcher.nothing(wait=1.5)
