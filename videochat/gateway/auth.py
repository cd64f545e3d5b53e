"""WebSocket authentication: the access JWT arrives as `?token=` or as the subprotocol
`bearer.<token>` (browsers cannot set an Authorization header on a WebSocket).

The middleware never refuses a socket itself: it puts `scope["user"]` (None when the token
is missing or bad), `scope["subprotocol"]` (the offered `bearer.*` entry, which the
consumer must echo on accept or browsers drop the connection before seeing any close
code), and what the socket must remember of its token: `scope["token_expires_at"]` (its
`exp`, epoch seconds) and `scope["session"]` (its login session, the `sid` claim, or None
for a token that names none). The answer is left to the consumer."""

from dataclasses import dataclass
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

# The claim naming the login session a token belongs to (accounts issues it and keeps it
# across refreshes), so that a logout can close the sockets of that session only.
SESSION_CLAIM = "sid"


@dataclass(frozen=True, slots=True)
class Credentials:
    """What an accepted access token tells the socket."""

    user: "User"
    expires_at: float  # the token's `exp`, epoch seconds
    session: str | None


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
def credentials_for_token(token: str) -> Credentials | None:
    """The active user the access token names, with its expiry and session, or None. Same
    checks as the REST API's JWTAuthentication (signature, expiry, token type, user exists
    and is active)."""
    authentication = JWTAuthentication()
    try:
        validated = authentication.get_validated_token(token.encode())
        user = authentication.get_user(validated)
    except (InvalidToken, AuthenticationFailed):
        return None
    session = validated.get(SESSION_CLAIM)
    return Credentials(
        # JWTAuthentication loads AUTH_USER_MODEL, which is accounts.User.
        user=cast("User", user),
        expires_at=float(validated["exp"]),
        session=str(session) if session is not None else None,
    )


class JWTAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        token, subprotocol = read_token(scope)
        found = await credentials_for_token(token) if token else None
        scope = {
            **scope,
            "user": found.user if found else None,
            "subprotocol": subprotocol,
            "token_expires_at": found.expires_at if found else None,
            "session": found.session if found else None,
        }
        return await super().__call__(scope, receive, send)
