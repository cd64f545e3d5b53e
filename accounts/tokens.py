"""Login sessions in the JWTs. Every login (or registration) starts a session, named by the
claim `sid`: the jti of the session's first refresh token. Access tokens made from a refresh
token copy it (SimpleJWT copies every claim but the type, jti, iat and exp), and refreshing
keeps it, so every token of one device's login carries the same `sid`. Sockets remember it,
and logout closes the sockets of its session only."""

from typing import Any

from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import RefreshToken

from videochat.gateway.auth import SESSION_CLAIM


class SessionRefreshToken(RefreshToken):
    """A refresh token that names its login session. A new one starts a session; one read
    from a string keeps the session it names (or none, if issued before sessions were)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.token is None:
            self[SESSION_CLAIM] = self[jwt_settings.JTI_CLAIM]

    def rotate(self) -> None:
        """Become the session's next refresh token, as SimpleJWT's own rotation does (the
        same claims with a new jti, iat and exp), and record it so it can be revoked. A
        token from before sessions starts one here."""
        self.set_jti()
        self.set_exp()
        self.set_iat()
        if SESSION_CLAIM not in self:
            self[SESSION_CLAIM] = self[jwt_settings.JTI_CLAIM]
        self.outstand()
