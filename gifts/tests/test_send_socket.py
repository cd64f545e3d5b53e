"""`gift:sent` over real sockets (API.md, WebSocket): the socket twin of POST /gifts/send runs
the same service, the receiver's sockets (in a call: both parties') get the gift transaction
after commit, and `client_id` makes a resent frame one gift."""

import pytest
from asgiref.sync import sync_to_async

from accounts.models import Block
from gifts.models import GiftSend
from gifts.payloads import gift_send_data
from gifts.tests.helpers import SEND, assert_ledger_reconciles
from tests.factories import GiftFactory
from tests.helpers import balance, fund
from videochat.gateway.testing import (
    device,
    open_socket,
    sync_thread_connections_closed,  # noqa: F401
)
from wallet.ledger.models import Transaction, TransactionKind

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def stored_data(gift_send_id: int) -> dict:
    send = GiftSend.objects.select_related("gift", "sender", "receiver").get(pk=gift_send_id)
    return gift_send_data(send)


@sync_to_async
def gifts_moved() -> tuple[int, int]:
    return (
        GiftSend.objects.count(),
        Transaction.objects.filter(kind=TransactionKind.GIFT).count(),
    )


async def test_a_socket_gift_is_acked_and_reaches_every_socket_of_the_receiver(
    alice, bob, hana, rose
):
    await sync_to_async(fund)(alice, 100)
    async with (
        open_socket(hana) as phone,
        open_socket(hana) as laptop,
        device(alice) as sender,
        open_socket(alice) as senders_tablet,
        device(bob) as stranger,
    ):
        reply = await sender.request(
            "gift:sent", {"to": hana.pk, "gift_id": rose.pk, "call_id": None, "client_id": "c-1"}
        )

        assert reply["type"] == "ack", reply
        data = reply["data"]
        assert data == await stored_data(data["id"])
        assert (data["gift"]["name"], data["sender"]["id"], data["receiver"]["id"]) == (
            "Rose",
            alice.pk,
            hana.pk,
        )
        assert (data["coins_spent"], data["call_id"]) == (10, None)
        # The receiver: her new balance, then the gift (both after the commit, in order).
        for socket in (phone, laptop):
            assert await socket.receive_json_from(timeout=3) == {
                "type": "wallet:balance",
                "data": {"balance": 5},
            }
            assert await socket.receive_json_from(timeout=3) == {"type": "gift:sent", "data": data}
        # Outside a call the sender has the ack and, on every device, the new balance; no
        # gift:sent.
        assert await senders_tablet.receive_json_from(timeout=3) == {
            "type": "wallet:balance",
            "data": {"balance": 90},
        }
        assert await senders_tablet.receive_nothing(timeout=0.3)
        assert await sender.nothing(wait=0.1)
        assert await stranger.nothing(wait=0.1)
    assert await sync_to_async(balance)(alice) == 90
    await sync_to_async(assert_ledger_reconciles)()


async def test_a_rest_gift_reaches_the_receivers_socket_with_the_rest_answer(
    client_for, alice, hana, rose
):
    await sync_to_async(fund)(alice, 100)
    client = await sync_to_async(client_for)(alice)
    async with device(hana) as receiver, device(alice) as sender:
        response = await sync_to_async(client.post)(
            SEND, {"to": hana.pk, "gift_id": rose.pk}, format="json"
        )

        assert response.status_code == 201, response.content
        assert await receiver.push("gift:sent") == response.json()
        assert await sender.nothing()


async def test_in_a_call_both_parties_get_the_gift(alice, hana, rose):
    await sync_to_async(fund)(alice, 500)
    hana.rate_per_minute = 60
    await hana.asave(update_fields=["rate_per_minute"])
    async with device(hana) as phone, device(hana) as laptop, device(alice) as caller:
        call = (await caller.request("call:invite", {"callee_id": hana.pk}))["data"]["call"]
        answer = await phone.request("call:answer", {"call_id": call["id"], "accept": True})
        assert answer["data"]["call"]["status"] == "active"
        for socket in (phone, laptop):
            await socket.push("call:invite")
        for socket in (phone, laptop, caller):
            await socket.push("call:answer")

        frame = {"to": hana.pk, "gift_id": rose.pk, "call_id": call["id"], "client_id": "g"}
        reply = await caller.request("gift:sent", frame)

        assert reply["type"] == "ack", reply
        assert reply["data"]["call_id"] == call["id"]
        for socket in (phone, laptop, caller):
            assert await socket.push("gift:sent") == reply["data"]
        for socket in (phone, laptop, caller):
            assert await socket.nothing(wait=0.1)
    # Minute 1 (60, half to hana) and the gift (10, half to hana).
    assert await sync_to_async(balance)(alice) == 430
    assert await sync_to_async(balance)(hana) == 35
    await sync_to_async(assert_ledger_reconciles)()


async def test_a_resent_frame_is_one_gift_and_one_push(alice, hana, rose):
    await sync_to_async(fund)(alice, 100)
    frame = {"to": hana.pk, "gift_id": rose.pk, "client_id": "tap-7"}
    async with device(hana) as receiver, device(alice) as sender:
        first = await sender.request("gift:sent", frame)
        again = await sender.request("gift:sent", frame)

        assert (first["type"], again["type"]) == ("ack", "ack")
        assert again["data"] == first["data"]
        assert await receiver.push("gift:sent") == first["data"]
        assert await receiver.nothing()

        heart = await sync_to_async(GiftFactory.create)(name="Heart", cost_coins=50)
        other = await sender.request("gift:sent", {**frame, "gift_id": heart.pk})
        assert other["error"]["code"] == "idempotency_mismatch"
        assert await receiver.nothing(wait=0.1)
    assert await gifts_moved() == (1, 1)
    assert await sync_to_async(balance)(alice) == 90


async def test_client_id_and_idempotency_key_are_one_key(client_for, alice, hana, rose):
    await sync_to_async(fund)(alice, 100)
    client = await sync_to_async(client_for)(alice)
    response = await sync_to_async(client.post)(
        SEND, {"to": hana.pk, "gift_id": rose.pk}, format="json", HTTP_IDEMPOTENCY_KEY="k-9"
    )
    async with device(alice) as sender:
        reply = await sender.request(
            "gift:sent", {"to": hana.pk, "gift_id": rose.pk, "client_id": "k-9"}
        )

    assert reply["data"] == response.json()
    assert await gifts_moved() == (1, 1)


async def test_refusals_carry_the_rest_codes_and_push_nothing(alice, bob, hana, rose):
    await sync_to_async(fund)(alice, 15)
    ring = await sync_to_async(GiftFactory.create)(name="Ring", cost_coins=1000)
    retired = await sync_to_async(GiftFactory.create)(name="Retired", cost_coins=1, is_active=False)
    async with device(hana) as receiver, device(alice) as sender:

        async def code(**data) -> str:
            reply = await sender.request("gift:sent", {"client_id": "x", **data})
            assert reply["type"] == "error", reply
            return reply["error"]["code"]

        assert await code(to=hana.pk, gift_id=ring.pk) == "insufficient_funds"
        assert await code(to=hana.pk, gift_id=retired.pk) == "not_found"
        assert await code(to=hana.pk + 1000, gift_id=rose.pk) == "not_found"
        assert await code(to=alice.pk, gift_id=rose.pk) == "validation_error"
        assert await code(to=bob.pk, gift_id=rose.pk) == "permission_denied"
        assert await code(to=hana.pk, gift_id=rose.pk, call_id=123456) == "not_found"
        await Block.objects.acreate(blocker=hana, blocked=alice)
        assert await code(to=hana.pk, gift_id=rose.pk) == "blocked"
        assert await receiver.nothing()
    assert await gifts_moved() == (0, 0)
    assert await sync_to_async(balance)(alice) == 15


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"to": 1, "gift_id": 1}, "client_id"),
        ({"to": 1, "gift_id": 1, "client_id": ""}, "client_id"),
        ({"to": 1, "gift_id": 1, "client_id": "x" * 65}, "client_id"),
        ({"to": "hana", "gift_id": 1, "client_id": "x"}, "to"),
        ({"to": 1, "gift_id": None, "client_id": "x"}, "gift_id"),
        ({"to": 1, "gift_id": 1, "call_id": [1], "client_id": "x"}, "call_id"),
    ],
)
async def test_bad_frames_are_validation_errors_naming_the_field(alice, data, field):
    async with device(alice) as socket:
        reply = await socket.request("gift:sent", data)

        assert reply["type"] == "error", reply
        assert reply["error"]["code"] == "validation_error"
        assert list(reply["error"]["details"]) == [field]
        # The socket stays open and keeps working.
        assert (await socket.request("presence:update", {}))["type"] == "ack"
