"""WebSocket authentication: the access JWT arrives as `?token=` or as the subprotocol
`bearer.<token>` (browsers cannot set an Authorization header on a WebSocket).

The middleware never refuses a socket itself: it puts `scope["user"]` (None when the token
is missing or bad) and `scope["subprotocol"]` (the offered `bearer.*` entry, which the
consumer must echo on accept or browsers drop the connection before seeing any close
code) and leaves the answer to the consumer."""

from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs

from channels.middleware import BaseMiddleware
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken

from videochat.gateway.threads import blocking

if TYPE_CHECKING:
    from accounts.models import User

BEARER_PREFIX = "bearer."


def read_token(scope: dict[str, Any]) -> tuple[str | None, str | None]:
    """(token, subprotocol to echo). The subprotocol wins over the query string: it keeps
    the token out of access logs, so a client that sends it means it."""
    for offered in scope.get("subprotocols") or ():
        if offered.startswith(BEARER_PREFIX):
            return offered[len(BEARER_PREFIX) :] or None, offered
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    tokens = query.get("token")
    return (tokens[0] if tokens else None), None


@blocking
def user_for_token(token: str) -> "User | None":
    """The active user the access token names, or None. Same checks as the REST API's
    JWTAuthentication (signature, expiry, token type, user exists and is active)."""
    authentication = JWTAuthentication()
    try:
        user = authentication.get_user(authentication.get_validated_token(token.encode()))
    except (InvalidToken, AuthenticationFailed):
        return None
    # JWTAuthentication loads AUTH_USER_MODEL, which is accounts.User.
    return cast("User", user)


class JWTAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        token, subprotocol = read_token(scope)
        user = await user_for_token(token) if token else None
        return await super().__call__(
            {**scope, "user": user, "subprotocol": subprotocol}, receive, send
        )
