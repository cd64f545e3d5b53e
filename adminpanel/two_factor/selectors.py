"""Who must use two-factor in the admin, and whether a session has passed it."""

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from adminpanel.roles import FINANCE


def totp_device_confirmed(user: User) -> TOTPDevice | None:
    """The user's authenticator, once they confirmed it with a code; None while two-factor
    is off for them."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def totp_device_pending(user: User) -> TOTPDevice | None:
    """The authenticator being set up: its secret is shown until a code confirms it."""
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()


def two_factor_required(user: User) -> bool:
    """With ADMIN_2FA_REQUIRED on, superusers and the finance group must use two-factor."""
    return settings.ADMIN_2FA_REQUIRED and (
        user.is_superuser or user.groups.filter(name=FINANCE).exists()
    )


def session_verified(user: User | AnonymousUser | Any) -> bool:
    """This session gave a valid code at login or when two-factor was turned on
    (django-otp's OTPMiddleware puts the device that verified it on the user)."""
    return getattr(user, "otp_device", None) is not None


def two_factor_setup_due(user: User | AnonymousUser) -> bool:
    """An active staff member who must use two-factor and has no authenticator yet: the
    admin sends them to set one up before any other page."""
    return (
        isinstance(user, User)
        and user.is_active
        and user.is_staff
        and two_factor_required(user)
        and totp_device_confirmed(user) is None
    )


def two_factor_satisfied(user: User | AnonymousUser) -> bool:
    """As far as two-factor goes, this session may use the admin: it was verified with a
    code, or the user has no authenticator and need not have one."""
    if session_verified(user):
        return True
    return (
        isinstance(user, User)
        and totp_device_confirmed(user) is None
        and not two_factor_required(user)
    )
