from collections.abc import Awaitable, Callable
from ipaddress import ip_address
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from accounts.lockout import login_client_address
from adminpanel.audit.services import AuditOrigin, audit_origin

USER_AGENT_MAX = 300


class AuditOriginMiddleware:
    """Audit entries recorded while serving a request carry its client address (as the
    throttles and the login lockout see it: the peer, or the hop NUM_PROXIES back in
    X-Forwarded-For) and user agent. Sync and async, so that under ASGI it adds no switch
    between the event loop and a thread."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self._acall(request)
        with audit_origin(origin_of(request)):
            response: HttpResponseBase = self.get_response(request)
            return response

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        with audit_origin(origin_of(request)):
            response: HttpResponseBase = await self.get_response(request)
            return response


def origin_of(request: HttpRequest) -> AuditOrigin:
    address = login_client_address(request)
    try:
        # A forwarded hop is whatever the client wrote there when no proxy replaced it.
        checked = str(ip_address(address)) if address else None
    except ValueError:
        checked = None
    agent = request.META.get("HTTP_USER_AGENT", "")
    return AuditOrigin(ip_address=checked, user_agent=agent[:USER_AGENT_MAX])
