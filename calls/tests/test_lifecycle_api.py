"""The call lifecycle over REST (API.md, Calls): invite, its refusals, accept (which charges
the first minute), reject, end, and reading calls back."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import Block
from accounts.presence import presence_status
from calls.models import Call
from tests.factories import HostFactory, UserFactory
from tests.helpers import assert_error, balance, fund, online
from wallet.ledger.services import wallet_adjust

pytestmark = pytest.mark.django_db

CALLS = "/api/v1/calls"


@pytest.fixture
def ready(alice, hana):
    """alice can pay a few minutes of hana, who is online."""
    hana.rate_per_minute = 60
    hana.save(update_fields=["rate_per_minute"])
    fund(alice, 500)
    online(hana)
    online(alice)


def invite(client, callee) -> dict:
    response = client.post(CALLS, {"callee_id": callee.pk}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


# --- Invite ---------------------------------------------------------------------------------


def test_invite_creates_a_ringing_call_and_marks_both_busy(
    client_for, alice, hana, ready, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        body = invite(client_for(alice), hana)

    call = Call.objects.get()
    assert body == {
        "id": call.pk,
        "caller": {"id": alice.pk, "name": "Alice", "gender": "male", "role": "user"},
        "callee": {"id": hana.pk, "name": "Hana", "gender": "female", "role": "host"},
        "status": "ringing",
        "rate_per_minute": 60,
        "created_at": call.created_at.isoformat().replace("+00:00", "Z"),
        "started_at": None,
        "ended_at": None,
        "duration_seconds": 0,
        "periods_charged": 0,
        "total_coins": 0,
        "end_reason": None,
    }
    assert call.host_share_percent == settings.HOST_SHARE_PERCENT
    assert call.billing_period_seconds == settings.CALL_BILLING_PERIOD_SECONDS
    assert presence_status(user_id=hana.pk) == "busy"
    assert balance(alice) == 500  # nothing is charged before the accept


def test_calling_yourself_is_a_validation_error(client_for, hana):
    online(hana)
    response = client_for(hana).post(CALLS, {"callee_id": hana.pk}, format="json")
    assert assert_error(response, 400, "validation_error")["details"] == {
        "callee_id": ["You can't call yourself."]
    }


@pytest.mark.parametrize("body", [{}, {"callee_id": "x"}, {"callee_id": 0}, {"callee_id": None}])
def test_bad_invite_bodies(client_for, alice, body):
    response = client_for(alice).post(CALLS, body, format="json")
    assert list(assert_error(response, 400, "validation_error")["details"]) == ["callee_id"]


def test_unknown_or_deactivated_callee_is_not_found(client_for, alice, ready):
    gone = HostFactory.create(is_active=False)
    for callee_id in (gone.pk, gone.pk + 1000):
        response = client_for(alice).post(CALLS, {"callee_id": callee_id}, format="json")
        assert_error(response, 404, "not_found")


def test_only_hosts_can_be_called(client_for, alice, bob, ready):
    online(bob)
    response = client_for(alice).post(CALLS, {"callee_id": bob.pk}, format="json")
    assert_error(response, 403, "permission_denied")


@pytest.mark.parametrize("blocker", ["caller", "callee"])
def test_a_block_either_way_refuses_the_call(client_for, alice, hana, ready, blocker):
    if blocker == "caller":
        Block.objects.create(blocker=alice, blocked=hana)
    else:
        Block.objects.create(blocker=hana, blocked=alice)
    response = client_for(alice).post(CALLS, {"callee_id": hana.pk}, format="json")
    assert_error(response, 403, "blocked")
    assert not Call.objects.exists()


def test_a_caller_who_cant_pay_one_minute_is_refused(client_for, bob, hana, ready):
    fund(bob, 59)  # hana charges 60
    response = client_for(bob).post(CALLS, {"callee_id": hana.pk}, format="json")
    error = assert_error(response, 402, "insufficient_funds")
    assert error["details"] == {"balance": 59, "needed": 60}
    assert not Call.objects.exists()


def test_a_caller_without_any_wallet_is_refused(client_for, hana, ready):
    newcomer = UserFactory.create()
    response = client_for(newcomer).post(CALLS, {"callee_id": hana.pk}, format="json")
    assert_error(response, 402, "insufficient_funds")


def test_an_offline_host_is_refused(client_for, alice):
    fund(alice, 500)
    host = HostFactory.create()
    response = client_for(alice).post(CALLS, {"callee_id": host.pk}, format="json")
    assert_error(response, 409, "callee_offline")


def test_a_host_in_another_call_is_busy(client_for, alice, bob, hana, ready):
    fund(bob, 500)
    invite(client_for(alice), hana)
    response = client_for(bob).post(CALLS, {"callee_id": hana.pk}, format="json")
    assert_error(response, 409, "callee_busy")


def test_a_host_who_is_calling_someone_is_busy(client_for, alice, hana, ready):
    other_host = HostFactory.create()
    online(other_host)
    fund(hana, 500)
    invite(client_for(hana), other_host)
    response = client_for(alice).post(CALLS, {"callee_id": hana.pk}, format="json")
    assert_error(response, 409, "callee_busy")


def test_a_caller_in_a_call_cannot_place_another(client_for, alice, hana, ready):
    other_host = HostFactory.create()
    online(other_host)
    invite(client_for(alice), hana)
    response = client_for(alice).post(CALLS, {"callee_id": other_host.pk}, format="json")
    assert_error(response, 409, "conflict")
    assert Call.objects.count() == 1


def test_a_finished_call_frees_both(client_for, alice, hana, ready):
    call = invite(client_for(alice), hana)
    client_for(alice).post(f"{CALLS}/{call['id']}/end")
    assert invite(client_for(alice), hana)["status"] == "ringing"


# --- Accept ---------------------------------------------------------------------------------


def test_accept_turns_the_call_active_and_charges_the_first_minute(client_for, alice, hana, ready):
    call = invite(client_for(alice), hana)

    response = client_for(hana).post(f"{CALLS}/{call['id']}/accept")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "active"
    assert body["started_at"] is not None
    assert (body["periods_charged"], body["total_coins"]) == (1, 60)
    assert balance(alice) == 500 - 60
    assert balance(hana) == 60 * settings.HOST_SHARE_PERCENT // 100
    stored = Call.objects.get()
    assert stored.started_at is not None
    assert stored.next_charge_at == stored.started_at + timedelta(
        seconds=settings.CALL_BILLING_PERIOD_SECONDS
    )


def test_host_share_is_rounded_down(client_for, alice, hana, ready, settings):
    settings.HOST_SHARE_PERCENT = 33
    hana.rate_per_minute = 61
    hana.save(update_fields=["rate_per_minute"])
    call = invite(client_for(alice), hana)
    client_for(hana).post(f"{CALLS}/{call['id']}/accept")
    assert balance(hana) == 61 * 33 // 100 == 20
    assert balance(alice) == 500 - 61


def test_accept_when_the_caller_spent_the_coins_meanwhile_fails_the_call(
    client_for, alice, hana, ready, django_capture_on_commit_callbacks
):
    call = invite(client_for(alice), hana)
    wallet_adjust(user_id=alice.pk, amount=-450, idempotency_key="spent", reason="test")

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(hana).post(f"{CALLS}/{call['id']}/accept")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["end_reason"]) == ("failed", "insufficient_funds")
    assert (body["started_at"], body["total_coins"], body["duration_seconds"]) == (None, 0, 0)
    assert balance(alice) == 50
    assert balance(hana) == 0
    assert presence_status(user_id=hana.pk) == "online"  # no longer busy


def test_only_the_callee_accepts(client_for, alice, hana, ready):
    call = invite(client_for(alice), hana)
    assert_error(client_for(alice).post(f"{CALLS}/{call['id']}/accept"), 403, "permission_denied")
    assert_error(client_for(alice).post(f"{CALLS}/{call['id']}/reject"), 403, "permission_denied")


def test_strangers_get_not_found(client_for, alice, bob, hana, ready):
    call = invite(client_for(alice), hana)
    for action in ("accept", "reject", "end"):
        assert_error(client_for(bob).post(f"{CALLS}/{call['id']}/{action}"), 404, "not_found")
    assert_error(client_for(bob).get(f"{CALLS}/{call['id']}"), 404, "not_found")
    assert_error(client_for(bob).post(f"{CALLS}/999999/accept"), 404, "not_found")


def test_a_second_accept_is_a_conflict(client_for, alice, hana, ready):
    call = invite(client_for(alice), hana)
    assert client_for(hana).post(f"{CALLS}/{call['id']}/accept").status_code == 200
    response = client_for(hana).post(f"{CALLS}/{call['id']}/accept")
    assert assert_error(response, 409, "conflict")["details"] == {"status": "active"}
    assert balance(alice) == 500 - 60  # charged once


# --- Reject and end -------------------------------------------------------------------------


def test_reject(client_for, alice, hana, ready, django_capture_on_commit_callbacks):
    call = invite(client_for(alice), hana)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(hana).post(f"{CALLS}/{call['id']}/reject")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["end_reason"], body["total_coins"]) == ("rejected", None, 0)
    assert body["ended_at"] is not None
    assert Call.objects.get().ended_by == hana
    assert presence_status(user_id=hana.pk) == "online"
    assert_error(client_for(hana).post(f"{CALLS}/{call['id']}/accept"), 409, "conflict")


@pytest.mark.parametrize("who", ["caller", "callee"])
def test_either_party_ends_an_active_call(client_for, alice, hana, ready, who):
    call = invite(client_for(alice), hana)
    client_for(hana).post(f"{CALLS}/{call['id']}/accept")
    Call.objects.filter(pk=call["id"]).update(started_at=timezone.now() - timedelta(seconds=42))
    ender = alice if who == "caller" else hana

    response = client_for(ender).post(f"{CALLS}/{call['id']}/end")

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["end_reason"]) == ("ended", "hangup")
    assert body["duration_seconds"] == 42
    assert body["total_coins"] == 60
    stored = Call.objects.get()
    assert (stored.ended_by, stored.next_charge_at) == (ender, None)
    assert_error(client_for(alice).post(f"{CALLS}/{call['id']}/end"), 409, "conflict")


def test_caller_cancelling_a_ringing_call_makes_it_missed(client_for, alice, hana, ready):
    call = invite(client_for(alice), hana)
    body = client_for(alice).post(f"{CALLS}/{call['id']}/end").json()
    assert (body["status"], body["end_reason"], body["duration_seconds"]) == ("missed", "hangup", 0)


def test_callee_ending_a_ringing_call_rejects_it(client_for, alice, hana, ready):
    call = invite(client_for(alice), hana)
    body = client_for(hana).post(f"{CALLS}/{call['id']}/end").json()
    assert (body["status"], body["end_reason"]) == ("rejected", None)


# --- Reading --------------------------------------------------------------------------------


def test_list_shows_calls_made_and_received_newest_first(client_for, alice, bob, hana, ready):
    older = invite(client_for(alice), hana)
    client_for(alice).post(f"{CALLS}/{older['id']}/end")
    fund(bob, 500)
    newer = invite(client_for(bob), hana)

    assert [c["id"] for c in client_for(hana).get(CALLS).json()["results"]] == [
        newer["id"],
        older["id"],
    ]
    detail = client_for(alice).get(f"{CALLS}/{older['id']}").json()
    assert client_for(alice).get(CALLS).json() == {"results": [detail], "next": None}
    assert client_for(bob).get(f"{CALLS}?limit=1").json()["results"][0]["id"] == newer["id"]


def test_list_pages_with_a_cursor(client_for, alice, hana, ready):
    ids = []
    for _ in range(3):
        ids.append(invite(client_for(alice), hana)["id"])
        client_for(alice).post(f"{CALLS}/{ids[-1]}/end")
    first = client_for(alice).get(f"{CALLS}?limit=2").json()
    second = client_for(alice).get(f"{CALLS}?limit=2&cursor={first['next']}").json()
    assert [c["id"] for c in first["results"] + second["results"]] == ids[::-1]
    assert second["next"] is None
