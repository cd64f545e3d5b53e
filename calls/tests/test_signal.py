"""`call:signal` (API.md, WebSocket): relayed between the two parties of a ringing or active
call only, size-limited, and never after the call is over."""

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django_redis import get_redis_connection

from calls.serializers import MAX_SIGNAL_PAYLOAD_BYTES
from calls.services import call_accept, call_end, call_invite
from tests.helpers import fund
from videochat.gateway.testing import (
    device,
    sync_thread_connections_closed,  # noqa: F401
)

pytestmark = pytest.mark.django_db(transaction=True)

OFFER = {"type": "offer", "sdp": "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"}
CANDIDATE = {"candidate": "candidate:1 1 udp 2122260223 10.0.0.2 54321 typ host", "sdpMid": "0"}


@pytest.fixture
def funded(alice, hana) -> None:
    fund(alice, 1000)


async def ring(alice, hana) -> int:
    call = await sync_to_async(call_invite)(caller=alice, callee_id=hana.pk)
    return call.pk


def signal(call_id: int, kind: str, payload=None) -> dict:
    data = {"call_id": call_id, "kind": kind}
    if payload is not None:
        data["payload"] = payload
    return data


async def test_signals_pass_between_the_parties_both_ways(alice, hana, funded):
    async with device(hana) as phone, device(hana) as laptop, device(alice) as caller:
        call_id = await ring(alice, hana)
        await sync_to_async(call_accept)(call_id=call_id, user=hana)
        for socket in (phone, laptop):
            await socket.push("call:invite")
            await socket.push("call:answer")
        await caller.push("call:answer")

        reply = await caller.request("call:signal", signal(call_id, "offer", OFFER))

        assert reply == {"type": "ack", "ref": 1, "data": {}}
        relayed = {"call_id": call_id, "kind": "offer", "payload": OFFER, "from": alice.pk}
        for socket in (phone, laptop):
            assert await socket.push("call:signal") == relayed
        assert await caller.nothing(wait=0.2)  # not echoed to the sender

        await phone.request("call:signal", signal(call_id, "candidate", CANDIDATE))
        assert await caller.push("call:signal") == {
            "call_id": call_id,
            "kind": "candidate",
            "payload": CANDIDATE,
            "from": hana.pk,
        }
        assert await laptop.nothing(wait=0.2)  # the callee's own devices get nothing


async def test_signals_pass_while_ringing_and_strings_are_payloads_too(alice, hana, funded):
    async with device(hana) as phone, device(alice) as caller:
        call_id = await ring(alice, hana)
        await phone.push("call:invite")

        await caller.request("call:signal", signal(call_id, "offer", OFFER["sdp"]))
        assert (await phone.push("call:signal"))["payload"] == OFFER["sdp"]
        await caller.request("call:signal", signal(call_id, "restart"))
        assert (await phone.push("call:signal"))["payload"] == {}


async def test_strangers_and_unknown_calls_are_permission_denied(alice, bob, hana, funded):
    async with device(hana) as phone, device(bob) as stranger:
        call_id = await ring(alice, hana)
        await phone.push("call:invite")

        for call in (call_id, call_id + 1000):
            reply = await stranger.request("call:signal", signal(call, "offer", OFFER))
            assert reply["error"]["code"] == "permission_denied"
        assert await phone.nothing()


async def test_no_relay_once_the_call_is_over(alice, hana, funded):
    async with device(hana) as phone, device(alice) as caller:
        call_id = await ring(alice, hana)
        await sync_to_async(call_accept)(call_id=call_id, user=hana)
        await sync_to_async(call_end)(call_id=call_id, user=hana)

        reply = await caller.request("call:signal", signal(call_id, "candidate", CANDIDATE))

        assert reply["error"]["code"] == "permission_denied"
        for frame in ("call:invite", "call:answer", "call:end"):
            await phone.push(frame)
        assert await phone.nothing()


async def test_the_database_answers_when_redis_lost_the_relay_entry(alice, hana, funded):
    redis = get_redis_connection("default")
    key = f"{settings.REDIS_PREFIX}:calls:relay:"
    async with device(hana) as phone, device(alice) as caller:
        call_id = await ring(alice, hana)
        await phone.push("call:invite")
        redis.delete(key + str(call_id))

        await caller.request("call:signal", signal(call_id, "offer", OFFER))

        assert (await phone.push("call:signal"))["from"] == alice.pk
        assert redis.get(key + str(call_id)) == f"{alice.pk}:{hana.pk}".encode()  # refilled

        await sync_to_async(call_end)(call_id=call_id, user=alice)
        redis.delete(key + str(call_id))
        reply = await caller.request("call:signal", signal(call_id, "offer", OFFER))
        assert reply["error"]["code"] == "permission_denied"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "offer", "payload": {"sdp": "x" * MAX_SIGNAL_PAYLOAD_BYTES}}, "payload"),
        ({"kind": "offer", "payload": {"sdp": "é" * (MAX_SIGNAL_PAYLOAD_BYTES // 2)}}, "payload"),
        ({"kind": "offer"}, "payload"),
        ({"kind": "candidate", "payload": None}, "payload"),
        ({"kind": "candidate", "payload": 7}, "payload"),
        ({"kind": "candidate", "payload": [CANDIDATE]}, "payload"),
        ({"kind": "hello", "payload": {}}, "kind"),
        ({"payload": {}}, "kind"),
    ],
)
async def test_bad_signals_are_validation_errors(alice, hana, funded, data, field):
    async with device(hana) as phone, device(alice) as caller:
        call_id = await ring(alice, hana)
        await phone.push("call:invite")

        reply = await caller.request("call:signal", {"call_id": call_id, **data})

        assert reply["error"]["code"] == "validation_error"
        assert list(reply["error"]["details"]) == [field]
        assert await phone.nothing()


async def test_a_payload_at_the_limit_passes(alice, hana, funded):
    async with device(hana) as phone, device(alice) as caller:
        call_id = await ring(alice, hana)
        await phone.push("call:invite")
        payload = "x" * (MAX_SIGNAL_PAYLOAD_BYTES - 2)  # plus two quotes in JSON

        reply = await caller.request("call:signal", signal(call_id, "offer", payload))

        assert reply["type"] == "ack", reply
        assert (await phone.push("call:signal"))["payload"] == payload
