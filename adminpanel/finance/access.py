"""Who may see finance: active staff with `adminpanel.view_finance` (the `finance` group, or
superusers), authenticated by their admin session or a staff access token (API.md, Staff and
finance), and past two-factor where their account has or needs it."""

from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken

from adminpanel.two_factor.selectors import two_factor_satisfied
from videochat.errors import error_response

FINANCE_PERMISSION = "adminpanel.view_finance"


def may_see_finance(user: Any) -> bool:
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm(FINANCE_PERMISSION)
    )


def finance_refusal(request: HttpRequest) -> HttpResponse | None:
    """None when the caller may download finance data; otherwise the answer: a browser with
    neither a session nor a token is sent to the admin login (and back here after it),
    everyone else gets 403 `permission_denied` in the error shape, never data."""
    if "HTTP_AUTHORIZATION" in request.META:
        try:
            found = JWTAuthentication().authenticate(request)  # type: ignore[arg-type]
        except (InvalidToken, AuthenticationFailed):
            return error_response(
                "permission_denied", "The access token is invalid or expired.", 403
            )
        user: Any = found[0] if found else None
    else:
        user = request.user
        if not user.is_authenticated and "text/html" in request.headers.get("Accept", ""):
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    if not may_see_finance(user):
        return error_response(
            "permission_denied", "Finance data is for staff with the finance permission.", 403
        )
    # A token is issued on a password alone: it never stands in for a code the account
    # needs (docs/staff.md, "Two-factor authentication"), nor does a session without one.
    if not two_factor_satisfied(user):
        return error_response(
            "permission_denied",
            "This account uses two-factor: download from the admin, logged in with a code.",
            403,
        )
    return None
