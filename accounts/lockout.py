"""Login lockout (django-axes; settings AXES_*, docs/accounts.md "Lockout"): wrong passwords
for one account from one client address, LOGIN_LOCKOUT_FAILURES of them, lock that pair out
for LOGIN_LOCKOUT_MINUTES, at /admin/login/ and at POST /auth/token alike (a staff password
must not be guessable through the API instead). Other addresses, and other accounts at that
address, are not held up, so guessing never locks the real owner out. These are the hooks
axes calls, and the answer the token endpoint gives."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.throttling import BaseThrottle

from accounts.services import email_normalize
from videochat.errors import RateLimited, error_response


def login_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    """The account an attempt names, as stored (AXES_USERNAME_CALLABLE): the admin's form
    sends it as `username`, the API as `email`; letter case never buys more guesses."""
    fields = credentials or request.POST
    name = fields.get("username") or fields.get("email")
    return email_normalize(name) if isinstance(name, str) else None


def login_client_address(request: HttpRequest) -> str | None:
    """The client's address as the API's throttles see it (AXES_CLIENT_IP_CALLABLE): the
    socket peer, or the hop NUM_PROXIES back in X-Forwarded-For. Behind nginx, the peer
    alone would be nginx for everyone."""
    return BaseThrottle().get_ident(request)  # type: ignore[arg-type]


def login_retry_after() -> int:
    """Whole seconds a locked-out pair waits: a failure, also one while locked out, starts
    the cool-off again, and the attempt that found the lockout was one."""
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def login_locked_out() -> RateLimited:
    return RateLimited("Too many failed logins; try again later.", retry_after=login_retry_after())


def login_lockout_response(request: HttpRequest, *args: Any) -> HttpResponse:
    """The answer to a locked-out attempt (AXES_LOCKOUT_CALLABLE): for the admin, its login
    page's look with the wait; under /api/ (should axes answer there) the error shape.
    429 with Retry-After either way. (axes passes the original response and credentials,
    or only the credentials: neither is needed.)"""
    locked = login_locked_out()
    if request.path.startswith("/api/"):
        response: HttpResponse = error_response(locked.code, locked.message, 429, locked.details)
    else:
        context = {"minutes": -(-login_retry_after() // 60), "title": "Too many failed logins"}
        response = render(request, "accounts/login_locked.html", context, status=429)
    response["Retry-After"] = str(login_retry_after())
    return response
