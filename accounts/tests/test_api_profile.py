import pytest
from asgiref.sync import sync_to_async

from accounts.models import Block, User
from accounts.presence import presence_socket_alive
from tests.factories import HostFactory, UserFactory
from tests.helpers import assert_error
from videochat.gateway.testing import open_socket, sync_thread_connections_closed  # noqa: F401

pytestmark = pytest.mark.django_db

ME = "/api/v1/me"


def iso(user: User) -> str:
    return user.created_at.isoformat().replace("+00:00", "Z")


def profile(user: User) -> dict:
    return {
        "id": user.pk,
        "email": user.email,
        "name": user.name,
        "gender": user.gender,
        "role": user.role,
        "bio": user.bio,
        "rate_per_minute": user.rate_per_minute if user.role == "host" else None,
        "created_at": iso(user),
        "lat": user.lat,
        "lon": user.lon,
    }


# --- GET /me -------------------------------------------------------------------------------


def test_me_shows_the_own_profile_with_location(client_for):
    alice = UserFactory.create(
        email="alice@example.com", name="Alice", bio="Hi", lat=48.2, lon=16.37
    )

    response = client_for(alice).get(ME)

    assert response.status_code == 200
    assert response.json() == {
        "id": alice.pk,
        "email": "alice@example.com",
        "name": "Alice",
        "gender": "male",
        "role": "user",
        "bio": "Hi",
        "rate_per_minute": None,
        "created_at": iso(alice),
        "lat": 48.2,
        "lon": 16.37,
    }


def test_me_shows_a_hosts_rate(client_for, hana):
    assert client_for(hana).get(ME).json()["rate_per_minute"] == hana.rate_per_minute == 60


def test_me_refuses_a_garbage_token(api):
    api.credentials(HTTP_AUTHORIZATION="Bearer not.a.token")

    assert_error(api.get(ME), 401, "not_authenticated")


def test_me_refuses_a_deactivated_users_token(client_for, alice):
    client = client_for(alice)
    User.objects.filter(pk=alice.pk).update(is_active=False)

    assert_error(client.get(ME), 401, "not_authenticated")


# --- PATCH /me -----------------------------------------------------------------------------


def test_patch_changes_the_given_fields_only(client_for, alice):
    response = client_for(alice).patch(
        ME, {"name": "Alicia", "bio": "Cellist", "gender": "female"}, format="json"
    )

    assert response.status_code == 200
    alice.refresh_from_db()
    assert (alice.name, alice.bio, alice.gender) == ("Alicia", "Cellist", "female")
    assert alice.email == "alice@example.com"
    assert response.json() == profile(alice)


def test_patch_with_nothing_changes_nothing(client_for, alice):
    response = client_for(alice).patch(ME, {}, format="json")

    assert response.status_code == 200
    assert response.json() == profile(alice)


def test_patch_can_clear_the_bio(client_for):
    alice = UserFactory.create(bio="old")

    assert client_for(alice).patch(ME, {"bio": ""}, format="json").json()["bio"] == ""
    alice.refresh_from_db()
    assert alice.bio == ""


def test_patch_ignores_read_only_fields_and_never_changes_the_role(client_for, alice):
    body = {"id": 999, "email": "mallory@example.com", "role": "staff", "created_at": "2001-01-01"}

    response = client_for(alice).patch(ME, {**body, "name": "Al"}, format="json")

    assert response.status_code == 200
    alice.refresh_from_db()
    assert (alice.pk, alice.email, alice.role, alice.name) != (999, "mallory@example.com", "staff")
    assert alice.email == "alice@example.com"
    assert alice.role == "user"
    assert alice.name == "Al"
    assert response.json()["role"] == "user"


def test_patch_accepts_the_profile_sent_back_as_received(client_for, alice, hana):
    for user in (alice, hana):
        client = client_for(user)
        received = client.get(ME).json()
        response = client.patch(ME, received, format="json")
        assert response.status_code == 200, response.content
        assert response.json() == received


def test_patch_refuses_unknown_fields(client_for, alice):
    response = client_for(alice).patch(ME, {"nmae": "Typo", "name": "Ok"}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert error["details"] == {"nmae": ["Unknown field."]}
    alice.refresh_from_db()
    assert alice.name == "Alice"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", None),
        ("name", ["Al"]),
        ("name", "x" * 81),
        ("bio", "x" * 501),
        ("gender", "robot"),
        ("gender", None),
        ("lat", "north"),
        ("lat", True),
        ("lat", "NaN"),
        ("lon", {"deg": 3}),
    ],
)
def test_patch_refuses_bad_values(client_for, alice, field, value):
    body = {field: value}
    if field in ("lat", "lon"):  # send the pair, so only the bad value is at fault
        body = {"lat": 1.0, "lon": 1.0, field: value}

    response = client_for(alice).patch(ME, body, format="json")

    error = assert_error(response, 400, "validation_error")
    assert list(error["details"]) == [field]
    assert User.objects.get(pk=alice.pk).name == "Alice"


def test_patch_refuses_malformed_json(client_for, alice):
    response = client_for(alice).patch(ME, '{"name": ', content_type="application/json")

    assert_error(response, 400, "validation_error")


def test_patch_refuses_a_json_list(client_for, alice):
    response = client_for(alice).patch(ME, [{"name": "Al"}], format="json")

    assert_error(response, 400, "validation_error")


def test_patch_refuses_a_huge_body(client_for, alice):
    response = client_for(alice).patch(ME, {"bio": "x" * 100_000}, format="json")

    assert_error(response, 413, "payload_too_large")


# rate_per_minute


def test_host_sets_a_rate_within_bounds(client_for, hana):
    client = client_for(hana)

    for rate in (10, 1000, 75):
        response = client.patch(ME, {"rate_per_minute": rate}, format="json")
        assert response.status_code == 200
        assert response.json()["rate_per_minute"] == rate
    hana.refresh_from_db()
    assert hana.rate_per_minute == 75


@pytest.mark.parametrize("rate", [9, 1001, 0, -5, 12.5, "lots", True, None])
def test_host_rate_out_of_bounds_or_not_an_integer_is_refused(client_for, hana, rate):
    response = client_for(hana).patch(ME, {"rate_per_minute": rate}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert list(error["details"]) == ["rate_per_minute"]
    hana.refresh_from_db()
    assert hana.rate_per_minute == 60


def test_non_host_may_not_set_a_rate(client_for, alice):
    response = client_for(alice).patch(ME, {"rate_per_minute": 50, "name": "X"}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert list(error["details"]) == ["rate_per_minute"]
    alice.refresh_from_db()
    assert (alice.rate_per_minute, alice.name) == (60, "Alice")


def test_non_host_sending_null_rate_changes_nothing(client_for, alice):
    response = client_for(alice).patch(ME, {"rate_per_minute": None}, format="json")

    assert response.status_code == 200
    assert response.json()["rate_per_minute"] is None


# lat / lon


def test_patch_sets_and_clears_the_location(client_for, alice):
    client = client_for(alice)

    response = client.patch(ME, {"lat": -33.87, "lon": 151.21}, format="json")
    assert response.status_code == 200
    assert (response.json()["lat"], response.json()["lon"]) == (-33.87, 151.21)
    alice.refresh_from_db()
    assert (alice.lat, alice.lon) == (-33.87, 151.21)

    response = client.patch(ME, {"lat": None, "lon": None}, format="json")
    assert response.status_code == 200
    alice.refresh_from_db()
    assert (alice.lat, alice.lon) == (None, None)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"lat": 10.0}, ["lon"]),
        ({"lon": 10.0}, ["lat"]),
        ({"lat": 10.0, "lon": None}, ["lat", "lon"]),
        ({"lat": None, "lon": 10.0}, ["lat", "lon"]),
        ({"lat": 90.5, "lon": 0}, ["lat"]),
        ({"lat": 0, "lon": -180.01}, ["lon"]),
    ],
)
def test_patch_refuses_half_or_impossible_locations(client_for, alice, body, fields):
    response = client_for(alice).patch(ME, body, format="json")

    error = assert_error(response, 400, "validation_error")
    assert sorted(error["details"]) == fields
    alice.refresh_from_db()
    assert (alice.lat, alice.lon) == (None, None)


def test_patch_accepts_the_edges_of_the_globe(client_for, alice):
    response = client_for(alice).patch(ME, {"lat": -90, "lon": 180}, format="json")

    assert response.status_code == 200
    assert (response.json()["lat"], response.json()["lon"]) == (-90.0, 180.0)


# the push to the user's other devices


@pytest.mark.django_db(transaction=True)
async def test_patch_pushes_profile_update_to_the_users_sockets(client_for):
    alice = await sync_to_async(UserFactory.create)(name="Alice")
    client = await sync_to_async(client_for)(alice)

    async with open_socket(alice) as phone:
        response = await sync_to_async(client.patch)(ME, {"name": "Alicia"}, format="json")

        assert response.status_code == 200
        frame = await phone.receive_json_from(timeout=5)
    assert frame == {"type": "profile:update", "data": {"user": response.json()}}
    assert frame["data"]["user"]["name"] == "Alicia"


def test_a_refused_patch_pushes_nothing(client_for, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        client_for(alice).patch(ME, {"rate_per_minute": 50}, format="json")
        client_for(alice).patch(ME, {}, format="json")

    assert callbacks == []


# --- GET /users/{id} -----------------------------------------------------------------------


def test_public_profile_hides_email_and_location(client_for, alice):
    hana = HostFactory.create(name="Hana", bio="Hi", lat=1.0, lon=2.0, rate_per_minute=80)

    response = client_for(alice).get(f"/api/v1/users/{hana.pk}")

    assert response.status_code == 200
    assert response.json() == {
        "id": hana.pk,
        "name": "Hana",
        "gender": "female",
        "role": "host",
        "bio": "Hi",
        "rate_per_minute": 80,
        "created_at": iso(hana),
        "presence": "offline",
    }


def test_public_profile_of_a_non_host_has_no_rate(client_for, alice, bob):
    body = client_for(alice).get(f"/api/v1/users/{bob.pk}").json()

    assert body["rate_per_minute"] is None
    assert "email" not in body


def test_public_profile_shows_live_presence(client_for, alice, hana):
    presence_socket_alive(user_id=hana.pk, socket_id="phone")

    assert client_for(alice).get(f"/api/v1/users/{hana.pk}").json()["presence"] == "online"


def test_public_profile_of_unknown_or_deactivated_users_is_404(client_for, alice):
    gone = UserFactory.create(is_active=False)

    for user_id in (gone.pk, 987654321, 2**63, 10**30):
        response = client_for(alice).get(f"/api/v1/users/{user_id}")
        assert_error(response, 404, "not_found")


def test_someone_who_blocked_you_looks_unknown(client_for, alice, bob):
    Block.objects.create(blocker=bob, blocked=alice)

    hidden = client_for(alice).get(f"/api/v1/users/{bob.pk}")
    unknown = client_for(alice).get("/api/v1/users/987654321")

    assert_error(hidden, 404, "not_found")
    assert hidden.json() == unknown.json()
    # The blocker still sees whom they blocked (to unblock them).
    assert client_for(bob).get(f"/api/v1/users/{alice.pk}").status_code == 200
