"""Login sessions and sockets (docs/accounts.md, "Tokens"): every socket remembers the login
session its access token came from, so logging out closes that session's sockets (4401) and
leaves the other devices connected. Tokens from before sessions were named keep working."""

import pytest
from asgiref.sync import sync_to_async
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.tests.helpers import bearer, login
from videochat.gateway.testing import device, sync_thread_connections_closed  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

REFRESH = "/api/v1/auth/token/refresh"
LOGOUT = "/api/v1/auth/logout"


def refreshed(api: APIClient, refresh: str) -> dict[str, str]:
    response = api.post(REFRESH, {"refresh": refresh}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def logout(pair: dict[str, str]) -> None:
    response = bearer(pair["access"]).post(LOGOUT, {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 204, response.content


async def test_logout_closes_the_sockets_of_that_session_only(api, alice):
    phone = await sync_to_async(login)(api, alice.email)
    laptop = await sync_to_async(login)(api, alice.email)
    # The phone refreshed since it opened its first socket: same session, rotated tokens.
    phone_now = await sync_to_async(refreshed)(api, phone["refresh"])
    async with (
        device(alice, token=phone["access"]) as phone_old,
        device(alice, token=phone_now["access"]) as phone_new,
        device(alice, token=laptop["access"]) as other,
    ):
        await sync_to_async(logout)(phone_now)

        assert await phone_old.closed() == 4401
        assert await phone_new.closed() == 4401
        assert (await other.request("presence:update", {}))["type"] == "ack"
        assert await other.nothing()


async def test_tokens_from_before_sessions_work_and_start_a_session_when_refreshed(api, alice):
    legacy = await sync_to_async(RefreshToken.for_user)(alice)  # no session claim
    legacy_pair = {"access": str(legacy.access_token), "refresh": str(legacy)}
    async with device(alice, token=legacy_pair["access"]) as old:
        rotated = await sync_to_async(refreshed)(api, legacy_pair["refresh"])
        async with device(alice, token=rotated["access"]) as new:
            await sync_to_async(logout)(rotated)

            assert await new.closed() == 4401
            # The socket of the token that named no session can't be matched: it stays.
            assert (await old.request("presence:update", {}))["type"] == "ack"
