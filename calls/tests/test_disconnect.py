"""The disconnect grace (docs/calls.md, "Disconnects"): a party whose sockets have all been
gone for CALL_DISCONNECT_GRACE_SECONDS ends the call (`disconnected`); a reconnect inside
the grace keeps it; sockets of a crashed server process stop counting by TTL."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone
from django_redis import get_redis_connection

from accounts.events import presence_socket_gone
from accounts.presence import presence_has_socket, presence_socket_alive, presence_status
from calls.models import Call
from calls.services import call_accept, call_end_disconnected, call_invite
from tests.helpers import fund
from videochat.gateway.registry import registry
from videochat.gateway.testing import device, open_socket, sync_thread_connections_closed  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

GRACE = timedelta(seconds=settings.CALL_DISCONNECT_GRACE_SECONDS)
TTL = timedelta(seconds=settings.PRESENCE_TTL_SECONDS)
SECOND = timedelta(seconds=1)


@pytest.fixture
def funded(alice, hana) -> None:
    fund(alice, 1000)


async def active_call(alice, hana) -> Call:
    call = await sync_to_async(call_invite)(caller=alice, callee_id=hana.pk)
    return await sync_to_async(call_accept)(call_id=call.pk, user=hana)


async def tick(at) -> int:
    return await sync_to_async(call_end_disconnected)(now=at)


async def status_of(call: Call) -> tuple[str, str]:
    call = await Call.objects.aget(pk=call.pk)
    return call.status, call.end_reason


async def test_sockets_are_tracked_from_connect_to_close(alice):
    async with open_socket(alice):
        assert presence_has_socket(user_id=alice.pk)
        async with open_socket(alice):
            pass
        assert presence_has_socket(user_id=alice.pk)  # the other socket is still open
    assert not presence_has_socket(user_id=alice.pk)


async def test_callee_gone_for_the_grace_ends_the_call(alice, hana, funded):
    async with device(alice) as caller:
        async with open_socket(hana):
            call = await active_call(alice, hana)
        closed_at = timezone.now()

        assert await tick(closed_at + GRACE - 2 * SECOND) == 0
        assert await status_of(call) == ("active", "")

        assert await tick(closed_at + GRACE + SECOND) == 1

        assert await status_of(call) == ("ended", "disconnected")
        stored = await Call.objects.aget(pk=call.pk)
        assert stored.ended_by_id == hana.pk
        await caller.push("call:answer")
        end = await caller.push("call:end")
        assert (end["reason"], end["status"], end["ended_by"]) == ("disconnected", "ended", hana.pk)
        assert end["total_coins"] == stored.total_coins
        assert presence_status(user_id=alice.pk) == "online"  # no longer busy
        assert await tick(closed_at + GRACE + 2 * SECOND) == 0  # once


async def test_a_reconnect_inside_the_grace_keeps_the_call(alice, hana, funded):
    async with open_socket(alice):
        async with open_socket(hana):
            call = await active_call(alice, hana)
        closed_at = timezone.now()
        async with open_socket(hana):
            assert await tick(closed_at + GRACE + SECOND) == 0
            assert await status_of(call) == ("active", "")


async def test_a_caller_who_drops_while_ringing_makes_the_call_missed(alice, hana, funded):
    async with device(hana) as phone:
        async with open_socket(alice):
            call = await sync_to_async(call_invite)(caller=alice, callee_id=hana.pk)
        closed_at = timezone.now()

        assert await tick(closed_at + GRACE + SECOND) == 1

        assert await status_of(call) == ("missed", "disconnected")
        await phone.push("call:invite")
        assert (await phone.push("call:end"))["ended_by"] == alice.pk


async def test_sockets_of_a_crashed_server_process_stop_counting_by_ttl(alice, hana, funded):
    # The process died: its disconnect hooks never ran, so nobody marked the sockets
    # closed. They stop counting PRESENCE_TTL_SECONDS after their last sign of life.
    registry.remove_hook("disconnect", presence_socket_gone)
    before = timezone.now()
    try:
        async with open_socket(alice), open_socket(hana):
            call = await active_call(alice, hana)
    finally:
        registry.add_hook("disconnect", presence_socket_gone)
    after = timezone.now()
    assert presence_has_socket(user_id=hana.pk)  # as far as Redis knows

    assert await tick(before + TTL - SECOND) == 0
    assert await tick(after + TTL + GRACE - 2 * SECOND) == 0
    assert await tick(after + TTL + GRACE + SECOND) == 1
    assert await status_of(call) == ("ended", "disconnected")


async def test_when_redis_lost_the_records_the_grace_starts_at_the_first_check(alice, hana, funded):
    async with open_socket(alice), open_socket(hana):
        call = await active_call(alice, hana)
    redis = get_redis_connection("default")
    redis.delete(*redis.keys(f"{settings.REDIS_PREFIX}:presence:sockets:*"))
    first_check = timezone.now() + timedelta(minutes=5)

    assert await tick(first_check) == 0
    assert await tick(first_check + GRACE - SECOND) == 0
    assert await tick(first_check + GRACE + SECOND) == 1
    assert await status_of(call) == ("ended", "disconnected")


async def test_the_grace_counts_from_the_call_for_a_party_long_gone(alice, hana, funded):
    # alice closed her last socket long ago and invites over REST: she gets the grace from
    # the invite to open a socket, not zero.
    async with open_socket(alice):
        pass
    long_after = timezone.now() + timedelta(minutes=10)
    presence_socket_alive(user_id=hana.pk, socket_id="hana-phone")
    call = await sync_to_async(call_invite)(caller=alice, callee_id=hana.pk)
    await Call.objects.filter(pk=call.pk).aupdate(created_at=long_after)

    assert await tick(long_after + GRACE - SECOND) == 0
    assert await tick(long_after + GRACE + SECOND) == 1
