"""Ringing calls nobody answers become `missed` after CALL_RING_TIMEOUT_SECONDS (the beat
task calls_expire_ringing); both parties hear about it."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from accounts.presence import presence_socket_alive, presence_status
from calls.models import Call
from calls.services import call_accept, call_expire_ringing, call_invite
from calls.tasks import calls_end_disconnected, calls_expire_ringing
from tests.factories import HostFactory
from tests.helpers import fund, online
from videochat.gateway.testing import (
    device,
    sync_thread_connections_closed,  # noqa: F401
)

pytestmark = pytest.mark.django_db(transaction=True)

RING = timedelta(seconds=settings.CALL_RING_TIMEOUT_SECONDS)
SECOND = timedelta(seconds=1)


@pytest.fixture
def funded(alice, bob) -> None:
    for user in (alice, bob):
        fund(user, 500)


async def test_an_unanswered_call_is_missed_after_the_ring_timeout(alice, hana, funded):
    async with device(hana) as phone, device(alice) as caller:
        call = await sync_to_async(call_invite)(caller=alice, callee_id=hana.pk)
        await phone.push("call:invite")

        assert await sync_to_async(call_expire_ringing)(now=call.created_at + RING - SECOND) == 0
        assert await sync_to_async(call_expire_ringing)(now=call.created_at + RING) == 1

        stored = await Call.objects.aget(pk=call.pk)
        assert (stored.status, stored.end_reason, stored.ended_by_id) == ("missed", "timeout", None)
        expected = {
            "call_id": call.pk,
            "status": "missed",
            "reason": "timeout",
            "ended_by": None,
            "duration_seconds": 0,
            "total_coins": 0,
        }
        for socket in (phone, caller):
            assert await socket.push("call:end") == expected
        assert presence_status(user_id=hana.pk) == "online"
        assert await sync_to_async(call_expire_ringing)(now=call.created_at + RING) == 0


def test_only_ringing_calls_time_out(alice, bob, hana, funded):
    other = HostFactory.create()
    for host in (hana, other):
        online(host)
    answered = call_invite(caller=alice, callee_id=hana.pk)
    call_accept(call_id=answered.pk, user=hana)
    ringing = call_invite(caller=bob, callee_id=other.pk)
    later = ringing.created_at + RING + SECOND

    assert call_expire_ringing(now=later) == 1

    answered.refresh_from_db()
    ringing.refresh_from_db()
    assert (answered.status, ringing.status) == ("active", "missed")


def test_the_beat_tasks_have_the_scheduled_names_and_run_the_services(alice, hana, funded):
    presence_socket_alive(user_id=hana.pk, socket_id="phone")
    call = call_invite(caller=alice, callee_id=hana.pk)
    Call.objects.filter(pk=call.pk).update(created_at=call.created_at - RING)
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    for task in (calls_expire_ringing, calls_end_disconnected):
        assert task.name in scheduled
    assert calls_expire_ringing.apply().get() == 1
    assert calls_end_disconnected.apply().get() == 0
