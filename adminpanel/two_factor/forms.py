"""The admin's login form with a code field, and the form of a code on the set-up page."""

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest

from accounts.models import User
from adminpanel.two_factor.selectors import totp_device_confirmed
from adminpanel.two_factor.services import totp_code_check
from videochat.errors import ApplicationError, ValidationFailed


def code_field() -> forms.CharField:
    return forms.CharField(
        label="Two-factor code",
        required=False,
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


def login_refused(request: HttpRequest | None, username: str) -> None:
    """The right password without a valid code is a failed login all the same: django-axes
    counts it toward locking that account out at that address (accounts/lockout.py), on top
    of the device's own throttling."""
    user_login_failed.send(sender=__name__, credentials={"username": username}, request=request)


class StaffLoginForm(AdminAuthenticationForm):
    """E-mail and password, and for staff who turned two-factor on, a code of their
    authenticator app; staff without it leave the code empty."""

    otp_token = code_field()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        user = self.get_user()
        device = totp_device_confirmed(user) if isinstance(user, User) else None
        if device is None:
            return cleaned
        token = cleaned.get("otp_token") or ""
        try:
            if not token:
                raise ValidationFailed("Two-factor authentication is on: enter your code too.")
            verified = totp_code_check(user=user, device=device, token=token)
        except ApplicationError as refused:
            login_refused(self.request, cleaned.get("username") or "")
            raise forms.ValidationError(refused.message, code=refused.code) from refused
        # django-otp marks the session verified by this device when Django logs the user in.
        user.otp_device = verified  # type: ignore[attr-defined]
        return cleaned


class CodeForm(forms.Form):
    """A code of the authenticator, to turn two-factor on (`enable`) or off (`disable`)."""

    action = forms.ChoiceField(choices=[("enable", "enable"), ("disable", "disable")])
    code = code_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].required = True
