"""Codes of an authenticator app, computed as the app would (RFC 6238, django-otp's own
implementation), and the admin's login with one."""

import time
from typing import Any

from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from tests.factories import PASSWORD

LOGIN = "/admin/login/"
SETUP = "/admin/two-factor/"


def code_at(key: bytes, step: int) -> str:
    """The 6-digit code of time step `step` (30-second steps since the epoch)."""
    totp = TOTP(key)
    totp.time = step * 30
    return f"{totp.token():06d}"


def current_step() -> int:
    return int(time.time()) // 30


def fresh_code(device: TOTPDevice) -> str:
    """A code the device accepts now: the current one, or the next one when the current
    was already used (the device takes one step ahead)."""
    device.refresh_from_db()
    return code_at(device.bin_key, max(current_step(), device.last_t + 1))


def confirmed_device(user: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def wait_is_over(device: TOTPDevice) -> None:
    """As if the wait after wrong codes had passed (a row update: the instance may be
    stale, and saving it would undo the step a login used)."""
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_count=0, throttling_failure_timestamp=None
    )


def admin_login(client: Client, user: User, code: str = "", **extra: Any) -> Any:
    fields = {"username": user.email, "password": PASSWORD, "next": "/admin/", **extra}
    return client.post(LOGIN, {**fields, "otp_token": code})


def logged_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def wrong_code(key: bytes) -> str:
    """Six digits the device refuses: none of the codes it would accept around now."""
    accepted = {code_at(key, current_step() + offset) for offset in (-1, 0, 1, 2)}
    return next(code for code in ("000000", "111111", "222222") if code not in accepted)
