"""Turning a staff member's authenticator (a django-otp TOTP device) on and off, and
checking a code against it."""

import django_otp
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from adminpanel.audit.services import audit_record
from adminpanel.two_factor.selectors import totp_device_confirmed, totp_device_pending
from videochat.errors import Conflict, RateLimited, ValidationFailed


def totp_code_check(*, user: User, device: TOTPDevice, token: str) -> TOTPDevice:
    """Consumes a code of the user's device and returns the device. A code is accepted
    once: only one of a later time step than the last accepted can pass (django-otp keeps
    that step, `last_t`, on the row it locks while checking). After a wrong code the device
    refuses every code for 1, 2, 4, 8... seconds (django-otp's throttling). Raises
    RateLimited while throttled, ValidationFailed for a wrong code."""
    allowed, refusal = device.verify_is_allowed()
    if not allowed:
        until = (refusal or {}).get("locked_until")
        wait = (until - timezone.now()).total_seconds() if until else None
        raise RateLimited("Too many wrong codes: wait a moment, then try again.", retry_after=wait)
    verified: TOTPDevice | None = django_otp.verify_token(
        user, device.persistent_id, "".join(token.split())
    )
    if verified is None:
        raise ValidationFailed(
            "That code is not valid (a code is accepted once). "
            "Enter the current code of your authenticator app."
        )
    return verified


def totp_device_start(*, user: User) -> TOTPDevice:
    """The authenticator the user is setting up: its secret stays the same until they
    confirm it, so reloading the page does not change the QR code."""
    return totp_device_pending(user) or TOTPDevice.objects.create(
        user=user, name="Authenticator app", confirmed=False
    )


def totp_device_confirm(*, user: User, token: str) -> TOTPDevice:
    """Turns two-factor on: a valid code of the authenticator being set up confirms it.
    Raises Conflict when it is already on, ValidationFailed or RateLimited for the code.
    (No transaction around the check: a wrong code's throttling must be kept.)"""
    if totp_device_confirmed(user) is not None:
        raise Conflict("Two-factor authentication is already on.")
    pending = totp_device_pending(user)
    if pending is None:
        raise ValidationFailed("Reload the page to set up your authenticator again.")
    device = totp_code_check(user=user, device=pending, token=token)
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        audit_record(actor=user, action="two_factor.enable", target=user)
    return device


def totp_device_disable(*, user: User, token: str) -> None:
    """Turns two-factor off: a valid code of the user's authenticator removes it."""
    device = totp_device_confirmed(user)
    if device is None:
        raise Conflict("Two-factor authentication is already off.")
    totp_code_check(user=user, device=device, token=token)
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        audit_record(actor=user, action="two_factor.disable", target=user)


def totp_device_remove(*, user: User) -> int:
    """Turns two-factor off without a code, for staff who lost their authenticator (an
    operator on the server: the audit log names the system); returns the devices removed."""
    with transaction.atomic():
        removed, _ = TOTPDevice.objects.filter(user=user).delete()
        audit_record(actor=None, action="two_factor.reset", target=user, after={"removed": removed})
    return removed
