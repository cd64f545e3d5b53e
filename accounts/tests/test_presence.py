"""Presence through real sockets, Redis and MongoDB (docs/presence.md): devices combine, a
conversation partner hears each real change exactly once, calls make users busy, and users
whose sockets time out without closing are swept and announced."""

import time

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from accounts.discovery import presence_nearby_page
from accounts.models import Block
from accounts.presence import (
    presence_socket_alive,
    presence_socket_closed,
    presence_status,
    presence_sweep,
)
from calls.services import CalleeOffline, call_invite
from chat.documents import Message
from chat.services import message_store
from videochat.gateway.testing import device, sync_thread_connections_closed  # noqa: F401
from wallet.ledger.services import wallet_adjust

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def talked(mongo_db, alice, bob, hana) -> None:
    """bob has a conversation with alice and one with hana: he hears about both."""
    message_store(sender_id=bob.pk, to=alice.pk, text="hi", client_id="b1")
    message_store(sender_id=bob.pk, to=hana.pk, text="hi", client_id="b2")
    # Read long ago: no receipts among the pushes under test.
    Message.objects.update(set__status="read")


def update(user, status: str) -> dict:
    return {"user_id": user.pk, "status": status}


async def test_devices_combine_and_a_partner_hears_each_change_once(alice, bob, talked):
    async with device(bob) as watcher:
        async with device(alice):
            assert await watcher.push("presence:update") == update(alice, "online")
            async with device(alice):
                assert presence_status(user_id=alice.pk) == "online"
            # The second device closed: the first still holds her online, unannounced.
            assert presence_status(user_id=alice.pk) == "online"
            assert await watcher.nothing()
        assert presence_status(user_id=alice.pk) == "offline"
        assert await watcher.push("presence:update") == update(alice, "offline")
        assert await watcher.nothing()


async def test_flapping_between_two_devices_pushes_nothing(alice, bob, talked):
    async with device(bob) as watcher, device(alice):
        assert await watcher.push("presence:update") == update(alice, "online")
        for _ in range(5):
            async with device(alice) as tablet:
                await tablet.request("presence:update", {"status": "away"})
        assert await watcher.nothing()


async def test_away_is_reported_as_online(alice, bob, talked):
    async with device(bob) as watcher, device(alice) as phone:
        assert await watcher.push("presence:update") == update(alice, "online")
        ack = await phone.request("presence:update", {"status": "away"})
        assert ack["data"] == {"status": "away", "ttl": settings.PRESENCE_TTL_SECONDS}
        assert presence_status(user_id=alice.pk) == "online"
        assert await watcher.nothing()


async def test_a_call_makes_both_parties_busy_until_it_ends(alice, bob, hana, talked):
    await sync_to_async(wallet_adjust)(
        user_id=alice.pk, amount=1000, idempotency_key="fund", reason="test"
    )
    async with device(bob) as watcher, device(hana), device(alice) as caller:
        announced = [await watcher.push("presence:update") for _ in range(2)]
        assert sorted(announced, key=str) == sorted(
            [update(hana, "online"), update(alice, "online")], key=str
        )

        call = (await caller.request("call:invite", {"callee_id": hana.pk}))["data"]["call"]
        assert presence_status(user_id=hana.pk) == "busy"
        assert presence_status(user_id=alice.pk) == "busy"
        busy = [await watcher.push("presence:update") for _ in range(2)]
        assert sorted(busy, key=str) == sorted(
            [update(hana, "busy"), update(alice, "busy")], key=str
        )

        await caller.request("call:end", {"call_id": call["id"]})
        assert presence_status(user_id=hana.pk) == "online"
        back = [await watcher.push("presence:update") for _ in range(2)]
        assert sorted(back, key=str) == sorted(
            [update(hana, "online"), update(alice, "online")], key=str
        )
        assert await watcher.nothing()


async def test_a_closed_last_socket_is_offline_for_calls_at_once(alice, hana):
    await sync_to_async(wallet_adjust)(
        user_id=alice.pk, amount=1000, idempotency_key="fund", reason="test"
    )
    presence_socket_alive(user_id=hana.pk, socket_id="phone")
    presence_socket_closed(user_id=hana.pk, socket_id="phone")
    with pytest.raises(CalleeOffline):
        await sync_to_async(call_invite)(caller=alice, callee_id=hana.pk)


async def test_a_socket_that_times_out_is_swept_and_announced_once(alice, bob, talked):
    async with device(bob) as watcher:
        # A socket whose process died: it was alive once, and nobody closes it.
        await sync_to_async(presence_socket_alive)(user_id=alice.pk, socket_id="crashed")
        assert await watcher.push("presence:update") == update(alice, "online")

        assert await sync_to_async(presence_sweep)() == 0  # not due yet
        later = time.time() + settings.PRESENCE_TTL_SECONDS + 1
        # bob's own socket looks timed out at that moment too: both are swept.
        assert await sync_to_async(presence_sweep)(now=later) == 2
        assert await watcher.push("presence:update") == update(alice, "offline")
        assert await sync_to_async(presence_sweep)(now=later) == 0
        assert await watcher.nothing()


@pytest.mark.parametrize("blocker", ["alice", "bob"])
async def test_a_block_either_way_hides_presence_pushes(alice, bob, hana, talked, blocker):
    """bob talks with alice and hana; a block between alice and bob, whoever made it, keeps
    each from hearing the other come and go, while hana's changes still reach bob."""
    one, other = (alice, bob) if blocker == "alice" else (bob, alice)
    await sync_to_async(Block.objects.create)(blocker=one, blocked=other)

    async with device(bob) as watcher:
        async with device(alice):
            async with device(hana):
                # alice came online first, but bob hears only hana.
                assert await watcher.push("presence:update") == update(hana, "online")
            assert await watcher.push("presence:update") == update(hana, "offline")
        async with device(hana):
            # alice went offline first, but bob hears only hana again.
            assert await watcher.push("presence:update") == update(hana, "online")
        assert await watcher.push("presence:update") == update(hana, "offline")
        assert await watcher.nothing()

    async with device(alice) as watched_by_alice:
        async with device(bob):
            pass
        # bob came and went: alice heard nothing of it.
        assert await watched_by_alice.nothing()


async def test_blocking_shows_each_side_the_other_offline_until_unblocked(
    client_for, alice, bob, talked
):
    client = await sync_to_async(client_for)(alice)
    async with device(alice) as alice_device:
        async with device(bob) as bob_device:
            assert await alice_device.push("presence:update") == update(bob, "online")

            blocked = await sync_to_async(client.post)(f"/api/v1/users/{bob.pk}/block")
            assert blocked.status_code == 204
            assert await bob_device.push("presence:update") == update(alice, "offline")
            assert await alice_device.push("presence:update") == update(bob, "offline")

            unblocked = await sync_to_async(client.delete)(f"/api/v1/users/{bob.pk}/block")
            assert unblocked.status_code == 204
            assert await bob_device.push("presence:update") == update(alice, "online")
            assert await alice_device.push("presence:update") == update(bob, "online")
            assert await bob_device.nothing()
        assert await alice_device.push("presence:update") == update(bob, "offline")


async def near_paris(viewer) -> list:
    page = sync_to_async(presence_nearby_page)
    found, _ = await page(
        viewer=viewer, offset=0, limit=5, lat=48.86, lon=2.35, radius_km=5, role=None, gender=None
    )
    return found


async def test_a_heartbeat_with_a_location_places_the_user_nearby(alice, hana):
    async with device(hana) as phone:
        await phone.request("presence:update", {"lat": 48.8566, "lon": 2.3522})
        found = await near_paris(alice)
        assert [(item.user, item.status) for item in found] == [(hana, "online")]
        assert found[0].distance_km == pytest.approx(0.4, abs=0.1)
    # Her last socket closed: she leaves the map too.
    assert await near_paris(alice) == []
