import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import User
from accounts.services import auth_token_refresh
from accounts.tests.helpers import bearer, login, throttle_limit
from tests.factories import PASSWORD, UserFactory
from tests.helpers import assert_error
from videochat.errors import NotAuthenticated

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register"
TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/token/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/me"

NEW_USER = {
    "email": "Carol@Example.COM",
    "password": "violet-harbour-lantern",
    "name": "Carol",
    "gender": "female",
}


# --- register ------------------------------------------------------------------------------


def test_register_creates_a_user_and_logs_them_in(api):
    response = api.post(REGISTER, NEW_USER, format="json")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"user", "access", "refresh"}
    user = User.objects.get(email="carol@example.com")
    assert body["user"] == {
        "id": user.pk,
        "email": "carol@example.com",
        "name": "Carol",
        "gender": "female",
        "role": "user",
        "bio": "",
        "rate_per_minute": None,
        "created_at": user.created_at.isoformat().replace("+00:00", "Z"),
        "lat": None,
        "lon": None,
    }
    assert user.check_password(NEW_USER["password"])
    assert user.password != NEW_USER["password"]
    me = bearer(body["access"]).get(ME)
    assert me.status_code == 200
    assert me.json()["id"] == user.pk
    refreshed = api.post(REFRESH, {"refresh": body["refresh"]}, format="json")
    assert refreshed.status_code == 200


def test_register_as_host_shows_the_default_rate(api):
    response = api.post(REGISTER, {**NEW_USER, "role": "host"}, format="json")

    assert response.status_code == 201
    assert response.json()["user"]["role"] == "host"
    assert response.json()["user"]["rate_per_minute"] == 60


def test_register_refuses_the_staff_role(api):
    response = api.post(REGISTER, {**NEW_USER, "role": "staff"}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert list(error["details"]) == ["role"]
    assert not User.objects.filter(email="carol@example.com").exists()


def test_register_refuses_an_email_taken_in_another_case(api, alice):
    response = api.post(REGISTER, {**NEW_USER, "email": "ALICE@example.com"}, format="json")

    error = assert_error(response, 409, "conflict")
    assert list(error["details"]) == ["email"]
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1", "too short"),
        ("password123", "too common"),
        ("83920174652", "entirely numeric"),
        ("carol@example.com", "too similar"),
    ],
)
def test_register_applies_the_password_validators(api, password, reason):
    response = api.post(REGISTER, {**NEW_USER, "password": password}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert list(error["details"]) == ["password"]
    assert any(reason in message for message in error["details"]["password"])
    assert not User.objects.exists()


def test_register_names_every_missing_field(api):
    response = api.post(REGISTER, {}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert set(error["details"]) == {"email", "password", "name", "gender"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-email"),
        ("email", 42),
        ("gender", "robot"),
        ("name", ["Carol"]),
        ("name", ""),
        ("name", "x" * 81),
        ("password", {"secret": True}),
        ("role", "admin"),
    ],
)
def test_register_refuses_bad_values(api, field, value):
    response = api.post(REGISTER, {**NEW_USER, field: value}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert list(error["details"]) == [field]
    assert not User.objects.exists()


def test_register_refuses_malformed_json(api):
    response = api.post(REGISTER, '{"email": "carol@example.com",', content_type="application/json")

    assert_error(response, 400, "validation_error")


def test_register_refuses_a_json_list(api):
    response = api.post(REGISTER, [NEW_USER], format="json")

    error = assert_error(response, 400, "validation_error")
    assert "non_field_errors" in error["details"]


def test_register_refuses_a_huge_body(api):
    response = api.post(REGISTER, {**NEW_USER, "name": "x" * 100_000}, format="json")

    assert_error(response, 413, "payload_too_large")


def test_register_refuses_form_encoding(api):
    response = api.post(REGISTER, NEW_USER)  # multipart, not JSON

    assert_error(response, 415, "unsupported_media_type")


def test_register_is_throttled_per_client_address(api):
    limit = throttle_limit("register")
    for n in range(limit):
        body = {**NEW_USER, "email": f"carol{n}@example.com"}
        assert api.post(REGISTER, body, format="json").status_code == 201

    # A forged X-Forwarded-For does not buy another try (no proxy is trusted in tests).
    response = api.post(
        REGISTER,
        {**NEW_USER, "email": "one-more@example.com"},
        format="json",
        HTTP_X_FORWARDED_FOR="203.0.113.9",
    )

    error = assert_error(response, 429, "rate_limited")
    assert int(response["Retry-After"]) == error["details"]["retry_after"] > 0
    assert not User.objects.filter(email="one-more@example.com").exists()
    other = api.post(
        REGISTER,
        {**NEW_USER, "email": "elsewhere@example.com"},
        format="json",
        REMOTE_ADDR="198.51.100.7",
    )
    assert other.status_code == 201


# --- token ---------------------------------------------------------------------------------


def test_token_returns_a_working_pair_for_any_email_case(api, alice):
    response = api.post(
        TOKEN, {"email": " ALICE@example.com ", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh"}
    assert bearer(body["access"]).get(ME).json()["email"] == "alice@example.com"
    assert RefreshToken(body["refresh"])["user_id"] == str(alice.pk)
    alice.refresh_from_db()
    assert alice.last_login is not None


@pytest.mark.parametrize(
    ("email", "password"),
    [("alice@example.com", "wrong-password"), ("nobody@example.com", PASSWORD)],
)
def test_token_refuses_wrong_credentials(api, alice, email, password):
    response = api.post(TOKEN, {"email": email, "password": password}, format="json")

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_token_refuses_a_deactivated_account(api, alice):
    alice.is_active = False
    alice.save()

    response = api.post(TOKEN, {"email": "alice@example.com", "password": PASSWORD}, format="json")

    assert_error(response, 401, "not_authenticated")


def test_token_does_not_trim_passwords(api):
    password = "  spaced harbour lantern  "
    assert api.post(REGISTER, {**NEW_USER, "password": password}, format="json").status_code == 201

    assert login(api, "carol@example.com", password)
    trimmed = api.post(
        TOKEN, {"email": "carol@example.com", "password": password.strip()}, format="json"
    )
    assert_error(trimmed, 401, "not_authenticated")


def test_token_names_missing_fields(api):
    response = api.post(TOKEN, {"email": "alice@example.com"}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert list(error["details"]) == ["password"]


def test_token_refuses_malformed_json(api):
    response = api.post(TOKEN, "{email: alice}", content_type="application/json")

    assert_error(response, 400, "validation_error")


def test_token_refuses_a_huge_body(api):
    body = {"email": "alice@example.com", "password": "x" * 100_000}

    assert_error(api.post(TOKEN, body, format="json"), 413, "payload_too_large")


def test_token_is_throttled_per_client_address_whatever_the_account(api, alice, bob):
    limit = throttle_limit("login")
    for n in range(limit):
        email = "alice@example.com" if n % 2 else f"guess{n}@example.com"
        api.post(TOKEN, {"email": email, "password": "guess"}, format="json")

    # Even the right password for another account is refused from this address now.
    response = api.post(TOKEN, {"email": "bob@example.com", "password": PASSWORD}, format="json")

    error = assert_error(response, 429, "rate_limited")
    assert int(response["Retry-After"]) == error["details"]["retry_after"]
    assert 0 < error["details"]["retry_after"] <= 61
    elsewhere = api.post(
        TOKEN,
        {"email": "bob@example.com", "password": PASSWORD},
        format="json",
        REMOTE_ADDR="198.51.100.7",
    )
    assert elsewhere.status_code == 200


# --- refresh -------------------------------------------------------------------------------


def test_refresh_rotates_and_the_old_refresh_token_dies(api, alice):
    first = login(api, "alice@example.com")

    response = api.post(REFRESH, {"refresh": first["refresh"]}, format="json")

    assert response.status_code == 200
    second = response.json()
    assert set(second) == {"access", "refresh"}
    assert second["refresh"] != first["refresh"]
    assert bearer(second["access"]).get(ME).status_code == 200
    reused = api.post(REFRESH, {"refresh": first["refresh"]}, format="json")
    assert_error(reused, 401, "not_authenticated")
    assert api.post(REFRESH, {"refresh": second["refresh"]}, format="json").status_code == 200


@pytest.mark.parametrize("kind", ["access", "garbage", "tampered"])
def test_refresh_refuses_what_is_not_a_valid_refresh_token(api, alice, kind):
    pair = login(api, "alice@example.com")
    token = {
        "access": pair["access"],
        "garbage": "not.a.jwt",
        "tampered": pair["refresh"][:-4] + ("AAAA" if pair["refresh"][-4:] != "AAAA" else "BBBB"),
    }[kind]

    assert_error(api.post(REFRESH, {"refresh": token}, format="json"), 401, "not_authenticated")


def test_refresh_refuses_an_expired_token(api, alice):
    token = RefreshToken.for_user(alice)
    token.set_exp(from_time=timezone.now() - timedelta(days=60))

    response = api.post(REFRESH, {"refresh": str(token)}, format="json")

    assert_error(response, 401, "not_authenticated")


def test_refresh_refuses_deactivated_and_deleted_users(api, alice, bob):
    alice_pair = login(api, "alice@example.com")
    bob_pair = login(api, "bob@example.com")
    User.objects.filter(pk=alice.pk).update(is_active=False)
    bob.delete()

    for pair in (alice_pair, bob_pair):
        response = api.post(REFRESH, {"refresh": pair["refresh"]}, format="json")
        assert_error(response, 401, "not_authenticated")


def test_refresh_names_a_missing_token(api):
    error = assert_error(api.post(REFRESH, {}, format="json"), 400, "validation_error")

    assert list(error["details"]) == ["refresh"]


@pytest.mark.django_db(transaction=True)
def test_refresh_token_used_twice_at_once_gives_one_pair():
    user = UserFactory.create()
    refresh = str(RefreshToken.for_user(user))
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def use() -> None:
        start.wait()
        try:
            auth_token_refresh(refresh=refresh)
            outcomes.append("pair")
        except NotAuthenticated:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=use) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["pair", "refused"]


# --- logout --------------------------------------------------------------------------------


def test_logout_revokes_the_refresh_token(api, alice):
    pair = login(api, "alice@example.com")
    client = bearer(pair["access"])

    response = client.post(LOGOUT, {"refresh": pair["refresh"]}, format="json")

    assert response.status_code == 204
    assert response.content == b""
    assert_error(
        api.post(REFRESH, {"refresh": pair["refresh"]}, format="json"), 401, "not_authenticated"
    )
    # A retried logout (the first answer was lost) still succeeds.
    assert client.post(LOGOUT, {"refresh": pair["refresh"]}, format="json").status_code == 204


def test_logout_leaves_other_sessions_alone(api, alice):
    phone = login(api, "alice@example.com")
    laptop = login(api, "alice@example.com")

    bearer(phone["access"]).post(LOGOUT, {"refresh": phone["refresh"]}, format="json")

    assert api.post(REFRESH, {"refresh": laptop["refresh"]}, format="json").status_code == 200


def test_logout_refuses_and_spares_another_users_refresh_token(api, alice, bob):
    alice_pair = login(api, "alice@example.com")
    bob_pair = login(api, "bob@example.com")

    response = bearer(alice_pair["access"]).post(
        LOGOUT, {"refresh": bob_pair["refresh"]}, format="json"
    )

    error = assert_error(response, 400, "validation_error")
    assert list(error["details"]) == ["refresh"]
    assert api.post(REFRESH, {"refresh": bob_pair["refresh"]}, format="json").status_code == 200


@pytest.mark.parametrize("kind", ["access", "garbage"])
def test_logout_refuses_what_is_not_a_refresh_token(api, alice, kind):
    pair = login(api, "alice@example.com")
    token = pair["access"] if kind == "access" else "garbage"

    response = bearer(pair["access"]).post(LOGOUT, {"refresh": token}, format="json")

    assert_error(response, 400, "validation_error")


def test_logout_needs_an_access_token(api, alice):
    pair = login(api, "alice@example.com")

    response = api.post(LOGOUT, {"refresh": pair["refresh"]}, format="json")

    assert_error(response, 401, "not_authenticated")
    assert api.post(REFRESH, {"refresh": pair["refresh"]}, format="json").status_code == 200


def test_logout_names_a_missing_token(client_for, alice):
    response = client_for(alice).post(LOGOUT, {}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert list(error["details"]) == ["refresh"]


# --- access tokens and the API's edges -----------------------------------------------------


def test_an_expired_access_token_is_refused(alice):
    token = AccessToken.for_user(alice)
    token.set_exp(from_time=timezone.now() - timedelta(hours=1))

    response = bearer(str(token)).get(ME)

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_refresh_token_is_not_an_access_token(api, alice):
    pair = login(api, "alice@example.com")

    assert_error(bearer(pair["refresh"]).get(ME), 401, "not_authenticated")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nothing-here",
        "/api/v1/me/",
        "/api/v1/users/abc",
        "/api/v1/auth/token/",
        "/api/v1/users/1/block/",
    ],
)
def test_unknown_api_paths_answer_json_not_html(api, path):
    for method in (api.get, api.post):
        response = method(path)
        assert_error(response, 404, "not_found")
        assert b"<html" not in response.content.lower()
