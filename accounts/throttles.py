"""Rate limits of the accounts endpoints (rates: REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])."""

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle


class ClientIPThrottle(SimpleRateThrottle):
    """Counts per client address (DRF's get_ident: the socket peer, or the hop NUM_PROXIES
    back in X-Forwarded-For), whoever the request claims to be: guessing passwords for many
    accounts from one address is what it stops."""

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginThrottle(ClientIPThrottle):
    scope = "login"


class RegisterThrottle(ClientIPThrottle):
    scope = "register"


class ReportThrottle(UserRateThrottle):
    """Per reporting user, so one account cannot flood the staff's queue."""

    scope = "reports"
