"""Call invites are limited per caller (CALL_INVITE_RATE): ringing and cancelling a host
over and over must not flood their devices with `call:invite`."""

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from tests.helpers import assert_error, fund
from videochat.gateway.testing import device, sync_thread_connections_closed  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

CALLS = "/api/v1/calls"


async def test_ring_and_cancel_cycles_are_limited_and_refused_ones_never_ring(
    client_for, alice, hana
):
    await sync_to_async(fund)(alice, 10_000)
    client = await sync_to_async(client_for)(alice)
    post = sync_to_async(client.post)
    limit, window = settings.CALL_INVITE_RATE
    async with device(hana) as phone, device(alice) as caller:
        answers = []
        for _ in range(15):
            response = await post(CALLS, {"callee_id": hana.pk}, format="json")
            answers.append(response)
            if response.status_code == 201:
                ended = await post(f"{CALLS}/{response.json()['id']}/end")
                assert ended.status_code == 200, ended.content

        assert [r.status_code for r in answers] == [201] * limit + [429] * (15 - limit)
        for response in answers[limit:]:
            error = assert_error(response, 429, "rate_limited")
            assert isinstance(error["details"]["retry_after"], int)
            assert int(response["Retry-After"]) == error["details"]["retry_after"]
            assert 0 < error["details"]["retry_after"] <= window

        # The socket door answers the same, as an error frame.
        refused = await caller.request("call:invite", {"callee_id": hana.pk})
        assert refused["type"] == "error", refused
        assert refused["error"]["code"] == "rate_limited"
        assert isinstance(refused["error"]["details"]["retry_after"], int)
        assert 0 < refused["error"]["details"]["retry_after"] <= window

        # The host's phone rang once per accepted invite, never for a refused one.
        for answer in answers[:limit]:
            assert (await phone.push("call:invite"))["call"]["id"] == answer.json()["id"]
            assert (await phone.push("call:end"))["call_id"] == answer.json()["id"]
        assert await phone.nothing()
