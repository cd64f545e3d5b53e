"""Deactivating (banning) a user cuts them off everywhere at once (docs/accounts.md,
"Deactivation"): every socket closes with 4401, their open calls end with reason `banned`,
they go offline, and no token of theirs works any more. Staff do it in the admin, which goes
through the same service."""

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.presence import presence_status
from accounts.services import user_deactivate
from accounts.tests.helpers import bearer, login
from calls.models import Call
from chat.documents import Message
from chat.services import message_store
from tests.factories import PASSWORD
from tests.helpers import assert_error
from videochat.gateway.testing import device, sync_thread_connections_closed  # noqa: F401
from wallet.ledger.services import wallet_adjust

pytestmark = pytest.mark.django_db(transaction=True)

USERS = "/admin/accounts/user/"


@pytest.fixture
def talked(mongo_db, alice, bob) -> None:
    """bob has a conversation with alice, so he hears about her presence."""
    message_store(sender_id=bob.pk, to=alice.pk, text="hi", client_id="b1")
    Message.objects.update(set__status="read")  # no receipts among the pushes under test


@pytest.fixture
def funded(alice, hana) -> None:
    hana.rate_per_minute = 60
    hana.save(update_fields=["rate_per_minute"])
    wallet_adjust(user_id=alice.pk, amount=500, idempotency_key="fund", reason="test")


def presence(user: User, status: str) -> dict[str, Any]:
    return {"user_id": user.pk, "status": status}


def assert_locked_out(api: APIClient, user: User, pair: dict[str, str]) -> None:
    """No door lets the user in: the access token, the refresh token and the password."""
    assert_error(bearer(pair["access"]).get("/api/v1/me"), 401, "not_authenticated")
    response = api.post("/api/v1/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")
    assert_error(response, 401, "not_authenticated")
    response = api.post(
        "/api/v1/auth/token", {"email": user.email, "password": PASSWORD}, format="json"
    )
    assert_error(response, 401, "not_authenticated")


async def test_deactivation_closes_every_socket_and_shuts_every_door(api, alice, bob, talked):
    pair = await sync_to_async(login)(api, alice.email)
    async with (
        device(bob) as watcher,
        device(alice, token=pair["access"]) as phone,
        device(alice) as laptop,
    ):
        assert await watcher.push("presence:update") == presence(alice, "online")

        await sync_to_async(user_deactivate)(user=alice)

        assert await phone.closed() == 4401
        assert await laptop.closed() == 4401
        assert presence_status(user_id=alice.pk) == "offline"
        assert await watcher.push("presence:update") == presence(alice, "offline")
        assert await watcher.nothing()
        # The partner's own socket is untouched.
        assert (await watcher.request("presence:update", {}))["type"] == "ack"

    await sync_to_async(assert_locked_out)(api, alice, pair)
    async with device(alice, token=pair["access"]) as again:
        assert await again.closed() == 4401


async def test_an_active_call_of_a_banned_caller_ends_with_reason_banned(alice, hana, funded):
    async with device(hana) as host, device(alice) as caller:
        call = (await caller.request("call:invite", {"callee_id": hana.pk}))["data"]["call"]
        await host.push("call:invite")
        assert (await host.request("call:answer", {"call_id": call["id"], "accept": True}))[
            "type"
        ] == "ack"
        await host.push("call:answer")

        await sync_to_async(user_deactivate)(user=alice)

        ended = await host.push("call:end")
        assert (ended["call_id"], ended["status"], ended["reason"], ended["ended_by"]) == (
            call["id"],
            "ended",
            "banned",
            alice.pk,
        )
        assert await caller.closed() == 4401
        stored = await Call.objects.aget(pk=call["id"])
        assert (stored.status, stored.end_reason, stored.ended_by_id) == (
            "ended",
            "banned",
            alice.pk,
        )
        assert stored.total_coins == ended["total_coins"] > 0
        # The host is free again.
        assert presence_status(user_id=hana.pk) == "online"


async def test_a_call_ringing_for_a_banned_callee_ends_as_missed(alice, hana, funded):
    async with device(hana) as host, device(alice) as caller:
        call = (await caller.request("call:invite", {"callee_id": hana.pk}))["data"]["call"]

        await sync_to_async(user_deactivate)(user=hana)

        ended = await caller.push("call:end")
        assert (ended["call_id"], ended["status"], ended["reason"], ended["ended_by"]) == (
            call["id"],
            "missed",
            "banned",
            hana.pk,
        )
        assert await host.closed() == 4401
        assert presence_status(user_id=alice.pk) == "online"


def admin_change(client: Client, user: User, **changes: Any) -> None:
    """Save the user's admin change form with `changes`; a False box is sent unticked."""
    form = {
        "email": user.email,
        "name": user.name,
        "gender": user.gender,
        "bio": user.bio,
        "role": user.role,
        "rate_per_minute": user.rate_per_minute or "",
        "lat": "",
        "lon": "",
        "is_active": user.is_active,
        **changes,
    }
    response = client.post(
        f"{USERS}{user.pk}/change/", {name: value for name, value in form.items() if value}
    )
    assert response.status_code == 302, response.content.decode()[:2000]


async def test_unticking_active_in_the_admin_bans_the_user(
    api, superuser_client, alice, hana, funded
):
    pair = await sync_to_async(login)(api, alice.email)
    async with device(hana) as host, device(alice, token=pair["access"]) as caller:
        call = (await caller.request("call:invite", {"callee_id": hana.pk}))["data"]["call"]
        await host.push("call:invite")

        await sync_to_async(admin_change)(superuser_client, alice, is_active=False)

        assert await caller.closed() == 4401
        ended = await host.push("call:end")
        assert (ended["call_id"], ended["reason"]) == (call["id"], "banned")
        assert presence_status(user_id=alice.pk) == "offline"
    await sync_to_async(assert_locked_out)(api, alice, pair)


async def test_the_admin_action_bans_the_selected_users(api, superuser_client, alice, bob, hana):
    async with device(alice) as first, device(bob) as second, device(hana) as spared:
        response = await sync_to_async(superuser_client.post)(
            USERS,
            {"action": "deactivate", "_selected_action": [alice.pk, bob.pk]},
            follow=True,
        )

        assert response.status_code == 200
        assert b"2 user(s) deactivated." in response.content
        assert await first.closed() == 4401
        assert await second.closed() == 4401
        assert (await spared.request("presence:update", {}))["type"] == "ack"
    banned = User.objects.filter(pk__in=[alice.pk, bob.pk, hana.pk], is_active=False)
    assert {user.pk async for user in banned} == {alice.pk, bob.pk}


def test_reactivating_lets_the_user_log_in_again_but_old_sessions_stay_ended(
    api, superuser_client, alice
):
    before = login(api, alice.email)
    admin_change(superuser_client, alice, is_active=False)
    alice.refresh_from_db()

    admin_change(superuser_client, alice, is_active=True)

    alice.refresh_from_db()
    assert alice.is_active
    response = api.post("/api/v1/auth/token/refresh", {"refresh": before["refresh"]}, format="json")
    assert_error(response, 401, "not_authenticated")
    after = login(api, alice.email)
    assert bearer(after["access"]).get("/api/v1/me").status_code == 200
