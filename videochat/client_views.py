"""The bundled web client (docs/web-client.md): one page at `/`. Its script and style sheet
are ordinary static files under `client/`: nginx serves /static/ in production, Django in
development (DEBUG) and tests/servers.py in the browser tests. The page names them with a
content hash (`?v=`), so a new version is never hidden by nginx's 7-day cache."""

import hashlib
from functools import cache
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

ASSETS = ("client/client.js", "client/client.css")


def _assets_hash() -> str:
    digest = hashlib.sha256()
    for name in ASSETS:
        found = finders.find(name)
        if isinstance(found, str):
            digest.update(Path(found).read_bytes())
    return digest.hexdigest()[:12]


_assets_hash_once = cache(_assets_hash)


def assets_version() -> str:
    """Changes whenever a client file does (looked up again on every page in DEBUG)."""
    return _assets_hash() if settings.DEBUG else _assets_hash_once()


def _content_security_policy(request: HttpRequest) -> str:
    # The tokens live in sessionStorage: no script but ours may run on this page. The socket
    # is named explicitly, since older browsers do not count ws:// as 'self'.
    host = request.get_host()
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "media-src 'self' blob: mediastream:",
            f"connect-src 'self' ws://{host} wss://{host}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


@require_safe
@never_cache
def index(request: HttpRequest) -> HttpResponse:
    response = render(request, "client/index.html", {"assets_version": assets_version()})
    response["Content-Security-Policy"] = _content_security_policy(request)
    response["Referrer-Policy"] = "same-origin"
    return response
