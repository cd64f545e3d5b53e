"""Pushes of the billing tick reach real sockets: notify_many() publishes in the channel
layer's own wire format (one pipeline for many pushes), and a tick's wallet:balance and
call:low_balance frames arrive."""

import sys

import pytest
from channels.db import database_sync_to_async
from django.db import transaction

from calls.billing import billing_tick
from calls.tests.billing_helpers import PERIOD, rewind, start_call
from tests.helpers import fund
from videochat.gateway.notify import notify_many
from videochat.gateway.testing import open_socket, sync_thread_connections_closed  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


async def test_notify_many_reaches_every_socket_of_each_user_in_order(
    alice, bob, hana, monkeypatch
):
    # The pipeline itself, not the slow path through the layer's group_send.
    monkeypatch.delattr(sys.modules["videochat.gateway.notify"], "_group_send_many")
    async with (
        open_socket(alice) as phone,
        open_socket(alice) as laptop,
        open_socket(bob) as other,
        open_socket(hana) as nobody,
    ):
        await database_sync_to_async(notify_many)(
            [
                (alice.pk, "wallet:balance", {"balance": 1}),
                (bob.pk, "wallet:balance", {"balance": 2}),
                (alice.pk, "call:low_balance", {"call_id": 9, "seconds_left": 60}),
            ]
        )
        for socket in (phone, laptop):
            assert await socket.receive_json_from(timeout=2) == {
                "type": "wallet:balance",
                "data": {"balance": 1},
            }
            assert await socket.receive_json_from(timeout=2) == {
                "type": "call:low_balance",
                "data": {"call_id": 9, "seconds_left": 60},
            }
        assert (await other.receive_json_from(timeout=2))["data"] == {"balance": 2}
        assert await nobody.receive_nothing(timeout=0.3)


async def test_notify_many_waits_for_commit_and_forgets_a_rollback(alice):
    def roll_back() -> None:
        with transaction.atomic():
            notify_many([(alice.pk, "wallet:balance", {"balance": 999})])
            transaction.set_rollback(True)

    def commit() -> None:
        with transaction.atomic():
            notify_many([(alice.pk, "wallet:balance", {"balance": 5})])
            assert transaction.get_connection().run_on_commit

    async with open_socket(alice) as socket:
        await database_sync_to_async(roll_back)()
        assert await socket.receive_nothing(timeout=0.5)
        await database_sync_to_async(commit)()
        assert (await socket.receive_json_from(timeout=2))["data"] == {"balance": 5}


async def test_a_tick_pushes_balances_to_both_and_warns_the_caller(alice, hana):
    def prepare() -> int:
        fund(alice, 25)
        call = start_call(alice, hana, rate=10)  # 15 left
        rewind(call, PERIOD)
        return call.pk

    call_id = await database_sync_to_async(prepare)()
    async with open_socket(alice) as caller, open_socket(hana) as host:
        report = await database_sync_to_async(billing_tick)()
        assert report.charged == 1
        # 5 left after period 2: it pays no more, so the call ends when period 3 is due.
        frames = {}
        for _ in range(2):
            frame = await caller.receive_json_from(timeout=2)
            frames[frame["type"]] = frame["data"]
        assert frames["wallet:balance"] == {"balance": 5}
        assert frames["call:low_balance"]["call_id"] == call_id
        assert PERIOD - 3 <= frames["call:low_balance"]["seconds_left"] <= PERIOD
        assert await host.receive_json_from(timeout=2) == {
            "type": "wallet:balance",
            "data": {"balance": 10},
        }
        assert await host.receive_nothing(timeout=0.3)
