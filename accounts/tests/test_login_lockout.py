"""Password guessing locks out (django-axes): at /admin/login/ and at the API's token
endpoint alike, per account and client address, until the cool-off has passed or staff
reset it (docs/accounts.md, "Lockout")."""

import http.client
import re
from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.db.models import F
from django.test import Client

from accounts.models import User
from tests.factories import PASSWORD, UserFactory
from tests.helpers import assert_error
from tests.servers import HOST, running_servers

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
TOKEN = "/api/v1/auth/token"


@pytest.fixture
def staff() -> User:
    return UserFactory.create(email="sam@example.com", role="staff", is_staff=True)


def admin_login(client: Client, email: str, password: str) -> Any:
    return client.post(LOGIN, {"username": email, "password": password, "next": "/admin/"})


def logged_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def cool_off_passes() -> None:
    """As if the cool-off had passed since the last failure."""
    AccessAttempt.objects.update(
        attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )


def test_25_wrong_staff_passwords_lock_the_admin_login_until_the_cool_off(staff):
    client = Client()
    for n in range(25):
        assert admin_login(client, "sam@example.com", f"guess-{n}").status_code in (200, 429)

    response = admin_login(client, "sam@example.com", PASSWORD)

    assert response.status_code == 429
    assert int(response["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    assert "too many" in response.content.decode().lower()
    assert not logged_in(client)

    cool_off_passes()
    response = admin_login(client, "sam@example.com", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert logged_in(client)


def test_the_lockout_counts_the_account_whatever_its_letter_case(staff):
    client = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        admin_login(client, "Sam@Example.COM" if n % 2 else "sam@example.com", "guess")

    assert admin_login(client, "SAM@example.com", PASSWORD).status_code == 429
    assert not logged_in(client)


def test_the_lockout_holds_one_account_at_one_address_only(staff):
    for n in range(settings.AXES_FAILURE_LIMIT):
        admin_login(Client(), "sam@example.com", f"guess-{n}")

    # The guesser's address can't get in; the staff member elsewhere still can, and other
    # accounts at that address are not held up: guessing never locks the real owner out.
    assert admin_login(Client(), "sam@example.com", PASSWORD).status_code == 429
    elsewhere = Client(REMOTE_ADDR="198.51.100.7")
    assert admin_login(elsewhere, "sam@example.com", PASSWORD).status_code == 302
    other = UserFactory.create(email="kim@example.com", role="staff", is_staff=True)
    assert admin_login(Client(), other.email, PASSWORD).status_code == 302


def test_staff_unlock_with_axes_reset(staff):
    for n in range(settings.AXES_FAILURE_LIMIT):
        admin_login(Client(), "sam@example.com", f"guess-{n}")
    assert admin_login(Client(), "sam@example.com", PASSWORD).status_code == 429

    call_command("axes_reset_username", "sam@example.com")

    assert admin_login(Client(), "sam@example.com", PASSWORD).status_code == 302


def test_the_token_endpoint_locks_out_in_the_error_shape(api, alice, settings):
    # Below the endpoint's own per-address throttle, so the lockout is what answers.
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        wrong = api.post(TOKEN, {"email": "alice@example.com", "password": "x"}, format="json")
        assert_error(wrong, 401, "not_authenticated")
    # The failure that reaches the limit already says so.
    third = api.post(TOKEN, {"email": "alice@example.com", "password": "x"}, format="json")
    assert_error(third, 429, "rate_limited")

    response = api.post(TOKEN, {"email": "Alice@example.com", "password": PASSWORD}, format="json")

    error = assert_error(response, 429, "rate_limited")
    assert isinstance(error["details"]["retry_after"], int)
    assert int(response["Retry-After"]) == error["details"]["retry_after"]
    assert error["details"]["retry_after"] == settings.AXES_COOLOFF_TIME.total_seconds()
    # The admin's login is the same account at the same address: locked there too.
    assert admin_login(Client(), "alice@example.com", PASSWORD).status_code == 429

    cool_off_passes()
    ok = api.post(TOKEN, {"email": "alice@example.com", "password": PASSWORD}, format="json")
    assert ok.status_code == 200


class Browser:
    """A staff member's browser at a real server's admin: its cookies (kept by hand: the
    server marks them Secure, which a cookie jar would not send over plain HTTP), the CSRF
    token, no redirects followed."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def open(self, path: str, form: dict[str, str] | None = None) -> tuple[int, Any, str]:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=10)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request("POST" if form is not None else "GET", path, body=body, headers=headers)
            answer = conn.getresponse()
            for header in answer.headers.get_all("Set-Cookie") or []:
                self.cookies.update({k: m.value for k, m in SimpleCookie(header).items()})
            return answer.status, answer.headers, answer.read().decode()
        finally:
            conn.close()

    def login(self, email: str, password: str) -> tuple[int, Any, str]:
        _, _, page = self.open(LOGIN)
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert found, page[:500]
        form = {"csrfmiddlewaretoken": found[1], "username": email, "password": password}
        return self.open(LOGIN, {**form, "next": "/admin/"})


@pytest.mark.servers
@pytest.mark.django_db(transaction=True)
def test_a_real_server_locks_the_admin_and_the_api_out(tmp_path):
    UserFactory.create(email="sam@example.com", role="staff", is_staff=True)
    UserFactory.create(email="kim@example.com", role="staff", is_staff=True)
    with running_servers(tmp_path, env={"LOGIN_LOCKOUT_FAILURES": "3"}) as servers:
        browser = Browser(servers.ports[0])
        answers = [browser.login("sam@example.com", f"guess-{n}")[0] for n in range(3)]
        assert answers == [200, 200, 429]  # the login form again, then the lockout

        status, headers, page = browser.login("sam@example.com", PASSWORD)

        assert status == 429
        assert headers["Retry-After"] == "1800"
        assert headers["Content-Type"].startswith("text/html")
        assert "Too many failed logins" in page
        assert browser.open("/admin/")[0] == 302  # still sent to the login
        token = {"email": "sam@example.com", "password": PASSWORD}
        status, body = servers.request("POST", "/api/v1/auth/token", body=token)
        assert status == 429
        assert body["error"]["code"] == "rate_limited"
        assert body["error"]["details"] == {"retry_after": 1800}
        # Another staff member at the same address is not held up.
        status, headers, _ = Browser(servers.ports[0]).login("kim@example.com", PASSWORD)
        assert (status, headers["Location"]) == (302, "/admin/")
