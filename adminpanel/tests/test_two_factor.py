"""Two-factor (TOTP) in the admin (docs/staff.md, "Two-factor authentication"): staff turn
it on with a valid code, the login then asks for a code, a code passes once, wrong codes are
throttled and count toward the lockout, and ADMIN_2FA_REQUIRED sends superusers and finance
staff without an authenticator to set one up first."""

import re
from base64 import b32decode
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from adminpanel.models import AuditEntry
from adminpanel.tests.two_factor_helpers import (
    SETUP,
    admin_login,
    code_at,
    confirmed_device,
    current_step,
    fresh_code,
    logged_in,
    wait_is_over,
    wrong_code,
)
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

USERS = "/admin/accounts/user/"
PASSWORD_CHANGE = "/admin/password_change/"


@pytest.fixture
def staff() -> User:
    return UserFactory.create(email="sam@example.com", role="staff", is_staff=True)


@pytest.fixture
def root() -> User:
    return User.objects.create_superuser("root@example.com", PASSWORD, name="Root")


def member_of(group: str, email: str) -> User:
    user = UserFactory.create(email=email, role="staff", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


def page_secret(page: bytes) -> bytes:
    """The key of the set-up page, read as a person types it into their app."""
    secret = re.search(rb'id="two-factor-secret">([A-Z2-7 ]+)<', page)
    assert secret is not None
    return b32decode(secret.group(1).replace(b" ", b""))


def test_staff_without_two_factor_log_in_with_their_password_only(staff):
    client = Client()

    response = admin_login(client, staff)

    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert logged_in(client)


def test_turning_two_factor_on_takes_a_valid_code_of_the_shown_secret(staff):
    client = Client()
    client.force_login(staff)

    page = client.get(SETUP)
    assert page.status_code == 200
    assert page["Cache-Control"].startswith("max-age=0")
    # The QR code is drawn in the page itself, nothing is fetched for it.
    svg = rb'<div id="two-factor-qr"><svg [^>]*xmlns="http://www.w3.org/2000/svg"'
    assert re.search(svg, page.content)
    key = page_secret(page.content)
    assert page_secret(client.get(SETUP).content) == key  # a reload keeps the secret

    wrong = client.post(SETUP, {"action": "enable", "code": wrong_code(key)})
    assert wrong.status_code == 200
    assert b"not valid" in wrong.content
    assert not TOTPDevice.objects.filter(user=staff, confirmed=True).exists()

    wait_is_over(TOTPDevice.objects.get(user=staff))
    response = client.post(SETUP, {"action": "enable", "code": code_at(key, current_step())})

    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert TOTPDevice.objects.get(user=staff).confirmed
    (entry,) = AuditEntry.objects.filter(action="two_factor.enable")
    assert (entry.actor, entry.target_id) == (staff, str(staff.pk))
    # This session gave the code: it goes on using the admin.
    assert logged_in(client)
    assert b"Two-factor authentication is <strong>on</strong>" in client.get(SETUP).content


def test_the_login_asks_for_the_code_once_two_factor_is_on(staff):
    device = confirmed_device(staff)
    client = Client()

    without = admin_login(client, staff)
    assert without.status_code == 200
    assert b"enter your code" in without.content
    assert not logged_in(client)

    wait_is_over(device)
    wrong = admin_login(client, staff, wrong_code(device.bin_key))
    assert wrong.status_code == 200
    assert b"not valid" in wrong.content
    assert not logged_in(client)

    wait_is_over(device)
    response = admin_login(client, staff, fresh_code(device))
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert logged_in(client)


def test_a_code_passes_once(staff):
    device = confirmed_device(staff)
    code = fresh_code(device)
    first = Client()
    assert admin_login(first, staff, code).status_code == 302

    again = Client()
    response = admin_login(again, staff, code)

    assert response.status_code == 200
    assert b"not valid" in response.content
    assert not logged_in(again)
    assert logged_in(first)


def test_wrong_codes_make_the_device_wait_before_any_code(staff):
    device = confirmed_device(staff)
    client = Client()
    admin_login(client, staff, "12345x")

    right_too_soon = admin_login(client, staff, fresh_code(device))

    assert right_too_soon.status_code == 200
    assert b"Too many wrong codes" in right_too_soon.content
    assert not logged_in(client)
    # Once the wait (1 s after one failure, doubling with each) is over, the code passes.
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_timestamp=timezone.now() - timedelta(seconds=5)
    )
    assert admin_login(client, staff, fresh_code(device)).status_code == 302


def test_wrong_codes_count_toward_the_login_lockout(staff, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # so each code is checked, not only waited out
    device = confirmed_device(staff)
    client = Client()
    for _ in range(2):
        assert admin_login(client, staff, "99999x").status_code == 200

    assert admin_login(client, staff, "99999x").status_code == 429
    locked = admin_login(client, staff, fresh_code(device))

    assert locked.status_code == 429
    assert not logged_in(client)


def test_a_session_without_the_code_must_log_in_again(staff):
    client = Client()
    client.force_login(staff)
    assert logged_in(client)
    # Turned on from another browser: this session never gave a code.
    confirmed_device(staff)

    response = client.get(USERS)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert client.get(SETUP).status_code == 302


def test_turning_two_factor_off_takes_a_valid_code(staff):
    device = confirmed_device(staff)
    client = Client()
    assert admin_login(client, staff, fresh_code(device)).status_code == 302

    wrong = client.post(SETUP, {"action": "disable", "code": "abc"})
    assert b"not valid" in wrong.content
    assert TOTPDevice.objects.filter(user=staff).exists()

    wait_is_over(device)
    response = client.post(SETUP, {"action": "disable", "code": fresh_code(device)})

    assert response.status_code == 302 and response["Location"] == SETUP
    assert not TOTPDevice.objects.filter(user=staff).exists()
    (entry,) = AuditEntry.objects.filter(action="two_factor.disable")
    assert (entry.actor, entry.target_id) == (staff, str(staff.pk))
    assert logged_in(client)
    assert admin_login(Client(), staff).status_code == 302  # the password alone again


def test_a_stale_set_up_page_never_turns_two_factor_off(staff):
    device = confirmed_device(staff)
    client = Client()
    assert admin_login(client, staff, fresh_code(device)).status_code == 302

    response = client.post(SETUP, {"action": "enable", "code": fresh_code(device)})

    assert b"already on" in response.content
    assert TOTPDevice.objects.filter(user=staff, confirmed=True).exists()


@pytest.mark.parametrize("who", ["superuser", "finance"])
def test_required_two_factor_sends_superusers_and_finance_to_set_up_first(who, root, settings):
    settings.ADMIN_2FA_REQUIRED = True
    user = root if who == "superuser" else member_of("finance", "fin@example.com")
    client = Client()

    response = admin_login(client, user, next="/admin/accounts/user/")
    assert response.status_code == 302

    for page in ("/admin/", USERS, PASSWORD_CHANGE):
        landed = client.get(page, follow=True)
        assert landed.request["PATH_INFO"] == SETUP, page
        assert b"must use two-factor" in landed.content
    # Logging out still works.
    assert client.post("/admin/logout/").status_code == 200
    assert client.get(SETUP).status_code == 302

    client = Client()
    admin_login(client, user, next=PASSWORD_CHANGE)
    key = page_secret(client.get(PASSWORD_CHANGE, follow=True).content)
    done = client.post(
        SETUP, {"action": "enable", "code": code_at(key, current_step()), "next": PASSWORD_CHANGE}
    )
    assert done.status_code == 302 and done["Location"] == PASSWORD_CHANGE
    assert client.get(PASSWORD_CHANGE).status_code == 200

    # From now on the login asks for the code.
    assert not logged_in(Client()) and admin_login(Client(), user).status_code == 200
    device = TOTPDevice.objects.get(user=user)
    assert admin_login(Client(), user, fresh_code(device)).status_code == 302


def test_required_two_factor_leaves_support_staff_to_choose(settings):
    settings.ADMIN_2FA_REQUIRED = True
    support = member_of("support", "sue@example.com")
    client = Client()

    assert admin_login(client, support).status_code == 302

    assert logged_in(client)
    assert b"Two-factor authentication is <strong>off</strong>" in client.get(SETUP).content


def test_required_two_factor_can_be_turned_off_only_to_set_it_up_again(root, settings):
    settings.ADMIN_2FA_REQUIRED = True
    device = confirmed_device(root)
    client = Client()
    assert admin_login(client, root, fresh_code(device)).status_code == 302

    client.post(SETUP, {"action": "disable", "code": fresh_code(device)})

    assert client.get("/admin/", follow=True).request["PATH_INFO"] == SETUP


def test_the_api_login_does_not_ask_for_a_code(staff, api):
    confirmed_device(staff)

    response = api.post(
        "/api/v1/auth/token", {"email": staff.email, "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200


def test_an_operator_turns_two_factor_off_for_a_lost_phone(root, capsys):
    confirmed_device(root)

    call_command("two_factor_reset", "Root@Example.com")

    assert "Two-factor is off for root@example.com" in capsys.readouterr().out
    assert not TOTPDevice.objects.filter(user=root).exists()
    (entry,) = AuditEntry.objects.filter(action="two_factor.reset")
    assert (entry.actor, entry.actor_label, entry.target_id) == (None, "system", str(root.pk))
    assert admin_login(Client(), root).status_code == 302


def test_a_superuser_removing_a_lost_authenticator_is_audited_without_its_secret(root, staff):
    device = confirmed_device(staff)
    client = Client()
    client.force_login(root)

    page = f"/admin/otp_totp/totpdevice/{device.pk}/delete/"
    assert client.post(page, {"post": "yes"}).status_code == 302

    assert not TOTPDevice.objects.filter(user=staff).exists()
    (entry,) = AuditEntry.objects.filter(action="totpdevice.delete")
    assert entry.actor == root
    assert entry.before["user"] == staff.pk and "key" not in entry.before
