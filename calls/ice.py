"""ICE servers for WebRTC (API.md, Calls: GET /calls/ice-servers). TURN credentials follow
coturn's `use-auth-secret` (TURN REST API) scheme: the username is `<expiry>:<user id>` and
the password is base64(HMAC-SHA1(TURN_SECRET, username)), so coturn checks them with the
shared secret alone and they stop working at `expiry`. Nothing is stored."""

import base64
import hashlib
import hmac
import time
from typing import Any

from django.conf import settings


def turn_credential(*, secret: str, username: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def ice_servers_for(*, user_id: int, now: float | None = None) -> dict[str, Any]:
    """STUN, plus TURN with credentials valid for TURN_TTL_SECONDS when TURN_URLS and
    TURN_SECRET are both configured."""
    ttl = settings.TURN_TTL_SECONDS
    servers: list[dict[str, Any]] = []
    if settings.STUN_URLS:
        servers.append({"urls": list(settings.STUN_URLS)})
    if settings.TURN_URLS and settings.TURN_SECRET:
        expiry = int(now if now is not None else time.time()) + ttl
        username = f"{expiry}:{user_id}"
        servers.append(
            {
                "urls": list(settings.TURN_URLS),
                "username": username,
                "credential": turn_credential(secret=settings.TURN_SECRET, username=username),
            }
        )
    return {"ice_servers": servers, "ttl": ttl}
