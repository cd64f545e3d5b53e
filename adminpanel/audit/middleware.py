from collections.abc import Callable
from ipaddress import ip_address

from django.http import HttpRequest, HttpResponse

from accounts.lockout import login_client_address
from adminpanel.audit.services import AuditOrigin, audit_origin

USER_AGENT_MAX = 300


class AuditOriginMiddleware:
    """Audit entries recorded while serving a request carry its client address (as the
    throttles and the login lockout see it: the peer, or the hop NUM_PROXIES back in
    X-Forwarded-For) and user agent."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with audit_origin(origin_of(request)):
            return self.get_response(request)


def origin_of(request: HttpRequest) -> AuditOrigin:
    address = login_client_address(request)
    try:
        # A forwarded hop is whatever the client wrote there when no proxy replaced it.
        checked = str(ip_address(address)) if address else None
    except ValueError:
        checked = None
    agent = request.META.get("HTTP_USER_AGENT", "")
    return AuditOrigin(ip_address=checked, user_agent=agent[:USER_AGENT_MAX])
