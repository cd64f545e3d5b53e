"""GET /presence/online and /presence/nearby against the real Redis and PostgreSQL."""

import pytest
from django.conf import settings
from django_redis import get_redis_connection

from accounts.models import Block, Gender
from accounts.presence import presence_busy_set, presence_socket_alive, presence_socket_closed
from tests.factories import HostFactory
from tests.helpers import assert_error, online

ONLINE = "/api/v1/presence/online"
NEARBY = "/api/v1/presence/nearby"
PARIS, LONDON, BERLIN = (48.8566, 2.3522), (51.5074, -0.1278), (52.52, 13.405)


def ids(body) -> list[int]:
    return [item["id"] for item in body["results"]]


def test_online_lists_online_users_newest_first_with_presence(client_for, alice, bob, hana):
    offline_host = HostFactory.create()
    online(hana)
    online(bob)
    online(alice)  # the caller: never listed
    presence_busy_set(user_ids=[bob.pk], call_id=7)

    body = client_for(alice).get(ONLINE).json()

    assert ids(body) == sorted([hana.pk, bob.pk], reverse=True)
    assert offline_host.pk not in ids(body)
    assert body["next"] is None
    by_id = {item["id"]: item for item in body["results"]}
    assert by_id[bob.pk]["presence"] == "busy"
    assert by_id[hana.pk] == {
        "id": hana.pk,
        "name": hana.name,
        "gender": hana.gender,
        "role": "host",
        "bio": "",
        "rate_per_minute": hana.rate_per_minute,
        "created_at": hana.created_at.isoformat().replace("+00:00", "Z"),
        "presence": "online",
    }


def test_online_filters_by_role_and_gender(client_for, alice, bob, hana):
    male_host = HostFactory.create(gender=Gender.MALE)
    for user in (bob, hana, male_host):
        online(user)

    assert ids(client_for(alice).get(ONLINE, {"role": "host"}).json()) == [male_host.pk, hana.pk]
    hosts_f = client_for(alice).get(ONLINE, {"role": "host", "gender": "female"}).json()
    assert ids(hosts_f) == [hana.pk]
    assert ids(client_for(alice).get(ONLINE, {"role": "user"}).json()) == [bob.pk]


def test_closed_sockets_and_blocks_either_way_hide_users(client_for, alice, bob, hana):
    carol = HostFactory.create()
    for user in (bob, hana, carol):
        online(user)
    Block.objects.create(blocker=alice, blocked=bob)
    Block.objects.create(blocker=hana, blocked=alice)
    presence_socket_closed(user_id=carol.pk, socket_id=f"s{carol.pk}")

    assert ids(client_for(alice).get(ONLINE).json()) == []
    assert ids(client_for(bob).get(ONLINE).json()) == [hana.pk]


def test_online_pages_with_the_cursor(client_for, alice):
    hosts = HostFactory.create_batch(5)
    for host in hosts:
        online(host)
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = client_for(alice).get(ONLINE, query).json()
        pages += 1
        assert len(body["results"]) <= 2
        seen += ids(body)
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == sorted((h.pk for h in hosts), reverse=True)
    assert pages == 3


@pytest.mark.parametrize(
    ("query", "field"),
    [({"cursor": "nope"}, "cursor"), ({"limit": 0}, "limit"), ({"role": "king"}, "role")],
)
def test_online_bad_queries_are_validation_errors(client_for, alice, query, field):
    response = client_for(alice).get(ONLINE, query)
    assert_error(response, 400, "validation_error")
    assert field in response.json()["error"]["details"]


def near(lat_lon, radius_km, **more):
    lat, lon = lat_lon
    return {"lat": lat, "lon": lon, "radius_km": radius_km, **more}


def test_nearby_sorts_by_distance_with_distances(client_for, alice, bob, hana):
    berliner = HostFactory.create()
    paris_profile = HostFactory.create(lat=PARIS[0], lon=PARIS[1])
    presence_socket_alive(
        user_id=paris_profile.pk,
        socket_id="p",
        location=(paris_profile.lat, paris_profile.lon),
        location_if_unset=True,
    )
    online(hana, location=LONDON)
    online(berliner, location=BERLIN)
    online(bob, location=PARIS)  # a user: not a host

    body = client_for(alice).get(NEARBY, near(PARIS, 500, role="host")).json()
    assert ids(body) == [paris_profile.pk, hana.pk]  # Berlin is 878 km away
    distances = [item["distance_km"] for item in body["results"]]
    assert distances[0] == pytest.approx(0, abs=0.01)
    assert distances[1] == pytest.approx(343.5, abs=2)  # Paris to London
    assert body["results"][1]["presence"] == "online"

    from_berlin = client_for(alice).get(NEARBY, near(BERLIN, 500)).json()
    assert ids(from_berlin) == [berliner.pk]
    assert from_berlin["results"][0]["distance_km"] == pytest.approx(0, abs=0.01)


def test_a_fresher_location_wins_over_the_profile(client_for, alice, hana):
    online(hana, location=LONDON)
    # Another device connects: its profile location does not move her back.
    presence_socket_alive(
        user_id=hana.pk, socket_id="tablet", location=PARIS, location_if_unset=True
    )

    assert ids(client_for(alice).get(NEARBY, near(LONDON, 10)).json()) == [hana.pk]


def test_nearby_filters_blocks_gender_and_offline(client_for, alice, bob, hana):
    male_host = HostFactory.create(gender=Gender.MALE)
    gone = HostFactory.create()
    crashed = HostFactory.create()
    for user in (bob, hana, male_host, gone, crashed):
        online(user, location=PARIS)
    Block.objects.create(blocker=bob, blocked=alice)
    presence_socket_closed(user_id=gone.pk, socket_id=f"s{gone.pk}")
    # A crashed server's user: the key lapsed, the sweep has not run yet.
    get_redis_connection("default").delete(f"{settings.REDIS_PREFIX}:presence:{crashed.pk}")

    everyone = client_for(alice).get(NEARBY, near(PARIS, 5)).json()
    assert sorted(ids(everyone)) == sorted([hana.pk, male_host.pk])
    female = client_for(alice).get(NEARBY, near(PARIS, 5, gender="female")).json()
    assert ids(female) == [hana.pk]


def test_nearby_pages_by_distance(client_for, alice):
    hosts = HostFactory.create_batch(3)
    for step, host in enumerate(hosts):
        online(host, location=(PARIS[0] + step * 0.1, PARIS[1]))
    seen, cursor = [], None
    while True:
        query = near(PARIS, 100, limit=1, **({"cursor": cursor} if cursor else {}))
        body = client_for(alice).get(NEARBY, query).json()
        seen += ids(body)
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == [h.pk for h in hosts]


def test_profile_location_moves_an_online_user(
    client_for, alice, hana, django_capture_on_commit_callbacks
):
    online(hana)
    assert ids(client_for(alice).get(NEARBY, near(BERLIN, 10)).json()) == []

    with django_capture_on_commit_callbacks(execute=True):
        client_for(hana).patch("/api/v1/me", {"lat": BERLIN[0], "lon": BERLIN[1]}, format="json")
    assert ids(client_for(alice).get(NEARBY, near(BERLIN, 10)).json()) == [hana.pk]

    with django_capture_on_commit_callbacks(execute=True):
        client_for(hana).patch("/api/v1/me", {"lat": None, "lon": None}, format="json")
    assert ids(client_for(alice).get(NEARBY, near(BERLIN, 10)).json()) == []


def test_the_poles_are_searchable(client_for, alice, hana):
    online(hana, location=(90, 0))
    assert ids(client_for(alice).get(NEARBY, near((90, 0), 10)).json()) == [hana.pk]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (near(PARIS, 501), "radius_km"),
        (near(PARIS, 0), "radius_km"),
        (near((90.5, 0), 10), "lat"),
        (near((0, -181), 10), "lon"),
        ({"lat": "north", "lon": 0, "radius_km": 5}, "lat"),
        ({"lat": 1, "radius_km": 5}, "lon"),
        ({"lat": 1, "lon": 1}, "radius_km"),
    ],
)
def test_nearby_bad_queries_are_validation_errors(client_for, alice, query, field):
    response = client_for(alice).get(NEARBY, query)
    assert_error(response, 400, "validation_error")
    assert list(response.json()["error"]["details"]) == [field]


def test_web_client_host_list_shape(client_for, alice, hana):
    # videochat/static/client/client.js reads results[].id, name and rate_per_minute.
    online(hana)
    item = client_for(alice).get(ONLINE, {"role": "host"}).json()["results"][0]
    assert (item["id"], item["name"], item["rate_per_minute"]) == (
        hana.pk,
        hana.name,
        hana.rate_per_minute,
    )
