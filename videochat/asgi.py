"""ASGI entry point: HTTP goes to Django, /ws/ to the WebSocket gateway."""

import gc
import os
import sys

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "videochat.settings")
# Django must be set up before anything imports models.
django_http = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import path  # noqa: E402

from videochat.gateway.auth import JWTAuthMiddleware  # noqa: E402
from videochat.gateway.consumer import GatewayConsumer  # noqa: E402
from videochat.gateway.outage import StoreOutageGuard  # noqa: E402
from videochat.logs import redact_server_logs  # noqa: E402

# Sockets may carry their access token in the URL: the server's request lines must not.
redact_server_logs()

if settings.DEBUG:
    # Development only: production serves /static/ from nginx (deploy/nginx.conf).
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    django_http = ASGIStaticFilesHandler(django_http)

# No origin check on the socket: it authenticates with a bearer token the client must
# present explicitly, never with a cookie, so a foreign page gains nothing by opening it.
application = ProtocolTypeRouter(
    {
        "http": django_http,
        "websocket": StoreOutageGuard(
            JWTAuthMiddleware(URLRouter([path("ws/", GatewayConsumer.as_asgi())]))
        ),
    }
)

# What start-up built (Django, models, URL conf) is never garbage: frozen, the collector stops
# walking it, and young collections run less often. Full collections over it paused a busy
# server for ~90 ms and made most of chat's p99 (docs/chat.md, Benchmark).
gc.freeze()
gc.set_threshold(10_000, 20, 20)
# A thread back from a round trip (MongoDB, Redis, PostgreSQL) waits for the GIL until the
# thread holding it is asked to let go, 5 ms by default; a chat message makes several round
# trips, on the handler's thread and the writer's. At 0.5 ms, p99 at 600 messages/s over
# 1,000 sockets fell from ~140 ms to ~75 ms (docs/chat.md, Benchmark).
sys.setswitchinterval(0.0005)
