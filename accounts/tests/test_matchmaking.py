"""POST /match against the real Redis and PostgreSQL, including many callers at once."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.db import connections
from django_redis import get_redis_connection

from accounts.matchmaking import match_find
from accounts.models import Block, Gender
from accounts.presence import presence_busy_set
from tests.factories import HostFactory, UserFactory
from tests.helpers import assert_error, online
from videochat.errors import NotFound

MATCH = "/api/v1/match"


def reservations_lapse() -> None:
    """As if MATCH_RESERVE_SECONDS had passed."""
    redis = get_redis_connection("default")
    keys = list(redis.scan_iter(match=f"{settings.REDIS_PREFIX}:match:reserved:*"))
    if keys:
        redis.delete(*keys)


def test_match_hands_out_an_available_host(client_for, alice, bob, hana):
    offline_host = HostFactory.create()
    online(alice, bob, hana)

    response = client_for(alice).post(MATCH, {}, format="json")

    assert response.status_code == 200
    assert response.json()["user"]["id"] == hana.pk
    assert response.json()["user"]["presence"] == "online"
    assert offline_host.pk != hana.pk


def test_busy_reserved_blocked_and_offline_hosts_are_not_available(client_for, alice, hana):
    busy, blocker, blocked, reserved = HostFactory.create_batch(4)
    HostFactory.create()  # offline
    online(reserved)
    held = client_for(UserFactory.create()).post(MATCH, {}, format="json").json()
    assert held["user"]["id"] == reserved.pk  # now held for that caller
    online(busy, blocker, blocked)
    presence_busy_set(user_ids=[busy.pk], call_id=1)
    Block.objects.create(blocker=blocker, blocked=alice)
    Block.objects.create(blocker=alice, blocked=blocked)

    assert_error(client_for(alice).post(MATCH, {}, format="json"), 404, "not_found")


def test_never_the_same_one_twice_in_a_row(client_for, alice, hana):
    online(hana)
    assert client_for(alice).post(MATCH, {}, format="json").json()["user"]["id"] == hana.pk
    reservations_lapse()
    assert_error(client_for(alice).post(MATCH, {}, format="json"), 404, "not_found")

    other = HostFactory.create()
    online(other)
    reservations_lapse()
    assert client_for(alice).post(MATCH, {}, format="json").json()["user"]["id"] == other.pk
    reservations_lapse()
    assert client_for(alice).post(MATCH, {}, format="json").json()["user"]["id"] == hana.pk


def test_filters_and_the_default_role(client_for, alice, bob, hana):
    male_host = HostFactory.create(gender=Gender.MALE)
    online(bob, hana, male_host)

    body = client_for(alice).post(MATCH, {"gender": "male"}, format="json").json()
    assert body["user"]["id"] == male_host.pk
    # A host is matched with users by default.
    assert client_for(hana).post(MATCH, {}, format="json").json()["user"]["id"] == bob.pk
    assert client_for(bob).post(MATCH, {"role": "user"}, format="json").status_code == 404


def test_bad_filters_are_validation_errors(client_for, alice):
    response = client_for(alice).post(MATCH, {"gender": "robot"}, format="json")
    assert_error(response, 400, "validation_error")
    assert list(response.json()["error"]["details"]) == ["gender"]


@pytest.mark.django_db(transaction=True)
def test_many_callers_at_once_never_share_a_host():
    hosts = HostFactory.create_batch(5)
    callers = UserFactory.create_batch(24)
    online(*hosts)
    start = threading.Barrier(len(callers))

    def ask(caller) -> int | None:
        try:
            start.wait()
            return match_find(user=caller).pk
        except NotFound:
            return None
        finally:
            connections.close_all()

    with ThreadPoolExecutor(len(callers)) as pool:
        got = list(pool.map(ask, callers))

    matched = [host_id for host_id in got if host_id is not None]
    assert sorted(matched) == sorted(h.pk for h in hosts)  # each once, none twice
    assert got.count(None) == len(callers) - len(hosts)


def reserved_hosts() -> int:
    redis = get_redis_connection("default")
    return len(list(redis.scan_iter(match=f"{settings.REDIS_PREFIX}:match:reserved:*")))


def test_a_caller_holds_one_reservation_at_a_time(client_for, alice, bob):
    hosts = HostFactory.create_batch(3)
    online(*hosts)
    client = client_for(alice)

    matched = [client.post(MATCH, {}, format="json").json()["user"]["id"] for _ in range(3)]

    # Each new match let the previous one go: only the last is held for alice.
    assert reserved_hosts() == 1
    others = {h.pk for h in hosts} - {matched[-1]}
    got = {
        client_for(caller).post(MATCH, {}, format="json").json()["user"]["id"]
        for caller in (bob, UserFactory.create())
    }
    assert got == others


def test_match_is_rate_limited_per_user(client_for, alice, bob, hana):
    online(hana)
    limit, window = settings.MATCH_RATE
    client = client_for(alice)
    for _ in range(limit):
        reservations_lapse()
        assert client.post(MATCH, {}, format="json").status_code in (200, 404)

    response = client.post(MATCH, {}, format="json")

    error = assert_error(response, 429, "rate_limited")
    assert isinstance(error["details"]["retry_after"], int)
    assert int(response["Retry-After"]) == error["details"]["retry_after"]
    assert 0 < error["details"]["retry_after"] <= window
    reservations_lapse()
    assert client_for(bob).post(MATCH, {}, format="json").status_code == 200  # per user


@pytest.mark.django_db(transaction=True)
def test_one_callers_requests_at_once_still_hold_one_reservation():
    hosts = HostFactory.create_batch(6)
    caller = UserFactory.create()
    online(*hosts)
    start = threading.Barrier(6)

    def ask(_: int) -> int | None:
        try:
            start.wait()
            return match_find(user=caller).pk
        except NotFound:
            return None
        finally:
            connections.close_all()

    with ThreadPoolExecutor(6) as pool:
        got = list(pool.map(ask, range(6)))

    assert any(got)
    assert reserved_hosts() == 1
