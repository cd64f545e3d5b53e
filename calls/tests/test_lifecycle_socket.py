"""The call lifecycle over real sockets (API.md, WebSocket: call:invite, call:answer,
call:end): the same services as REST, and every push reaching every socket of both parties."""

import pytest
from asgiref.sync import sync_to_async

from calls.models import Call
from tests.factories import HostFactory
from tests.helpers import fund
from videochat.gateway.testing import (
    device,
    sync_thread_connections_closed,  # noqa: F401
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def funded(alice, hana) -> None:
    hana.rate_per_minute = 60
    hana.save(update_fields=["rate_per_minute"])
    fund(alice, 500)


async def test_rest_invite_rings_every_socket_of_the_callee(client_for, alice, bob, hana, funded):
    client = await sync_to_async(client_for)(alice)
    async with (
        device(hana) as phone,
        device(hana) as laptop,
        device(alice) as caller,
        device(bob) as stranger,
    ):
        response = await sync_to_async(client.post)(
            "/api/v1/calls", {"callee_id": hana.pk}, format="json"
        )
        assert response.status_code == 201, response.content

        for socket in (phone, laptop):
            assert await socket.push("call:invite") == {"call": response.json()}
        assert await caller.nothing()
        assert await stranger.nothing(wait=0.1)


async def test_socket_invite_acks_the_call_and_rings_the_callee(alice, hana, funded):
    async with device(hana) as phone, device(alice) as caller:
        reply = await caller.request("call:invite", {"callee_id": hana.pk})

        assert reply["type"] == "ack", reply
        call = reply["data"]["call"]
        assert (call["status"], call["caller"]["id"], call["callee"]["id"]) == (
            "ringing",
            alice.pk,
            hana.pk,
        )
        assert await phone.push("call:invite") == {"call": call}


async def test_socket_invite_refusals_carry_the_rest_codes(alice, bob, hana, funded):
    offline_host = await sync_to_async(HostFactory.create)()
    async with device(hana), device(alice) as caller:
        reply = await caller.request("call:invite", {"callee_id": offline_host.pk})
        assert reply["error"]["code"] == "callee_offline"
        reply = await caller.request("call:invite", {"callee_id": alice.pk})
        assert reply["error"]["code"] == "validation_error"
        reply = await caller.request("call:invite", {"callee_id": "nope"})
        assert list(reply["error"]["details"]) == ["callee_id"]
        reply = await caller.request("call:invite", {"callee_id": bob.pk})
        assert reply["error"]["code"] == "permission_denied"

        assert (await caller.request("call:invite", {"callee_id": hana.pk}))["type"] == "ack"
        await sync_to_async(fund)(bob, 100)
        async with device(bob) as other_caller:
            reply = await other_caller.request("call:invite", {"callee_id": hana.pk})
            assert reply["error"]["code"] == "callee_busy"


async def test_accept_on_one_device_stops_the_ringing_on_the_others(alice, hana, funded):
    async with device(hana) as phone, device(hana) as laptop, device(alice) as caller:
        call = (await caller.request("call:invite", {"callee_id": hana.pk}))["data"]["call"]
        for socket in (phone, laptop):
            await socket.push("call:invite")

        reply = await phone.request("call:answer", {"call_id": call["id"], "accept": True})

        assert reply["type"] == "ack", reply
        active = reply["data"]["call"]
        assert (active["status"], active["total_coins"]) == ("active", 60)
        expected = {"call_id": call["id"], "accepted": True, "call": active}
        for socket in (phone, laptop, caller):
            assert await socket.push("call:answer") == expected
        # The laptop rang too; answering late, it loses.
        reply = await laptop.request("call:answer", {"call_id": call["id"], "accept": True})
        assert reply["error"]["code"] == "conflict"


async def test_reject_over_the_socket(alice, hana, funded):
    async with device(hana) as phone, device(alice) as caller:
        call = (await caller.request("call:invite", {"callee_id": hana.pk}))["data"]["call"]
        await phone.push("call:invite")

        reply = await phone.request("call:answer", {"call_id": call["id"], "accept": False})

        assert reply["data"]["call"]["status"] == "rejected"
        for socket in (phone, caller):
            pushed = await socket.push("call:answer")
            assert (pushed["accepted"], pushed["call"]["status"]) == (False, "rejected")
        assert await caller.nothing()


async def test_end_tells_both_parties_the_duration_and_coins(alice, hana, funded):
    async with device(hana) as phone, device(hana) as laptop, device(alice) as caller:
        call = (await caller.request("call:invite", {"callee_id": hana.pk}))["data"]["call"]
        await phone.request("call:answer", {"call_id": call["id"], "accept": True})

        reply = await caller.request("call:end", {"call_id": call["id"]})

        assert reply["data"]["call"]["status"] == "ended"
        expected = {
            "call_id": call["id"],
            "status": "ended",
            "reason": "hangup",
            "ended_by": alice.pk,
            "duration_seconds": reply["data"]["call"]["duration_seconds"],
            "total_coins": 60,
        }
        for socket in (phone, laptop):
            await socket.push("call:invite")
        for socket in (phone, laptop, caller):
            await socket.push("call:answer")
            assert await socket.push("call:end") == expected
        stored = await Call.objects.aget(pk=call["id"])
        assert stored.status == "ended"


async def test_bad_answer_and_end_frames_are_validation_errors(alice):
    async with device(alice) as socket:
        reply = await socket.request("call:answer", {"call_id": 1})
        assert reply["error"]["details"] == {"accept": ["This field is required."]}
        reply = await socket.request("call:end", {})
        assert list(reply["error"]["details"]) == ["call_id"]
        reply = await socket.request("call:end", {"call_id": 123456})
        assert reply["error"]["code"] == "not_found"
