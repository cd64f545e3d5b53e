"""URLs used only by test_errors: views that fail in each way a real view can."""

import psycopg
import pymongo
import redis
from django.db import connection, transaction
from django.urls import include, path
from rest_framework.decorators import api_view, permission_classes, throttle_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle, BaseThrottle

from tests.stores import postgres_connect_refused
from videochat.errors import InsufficientFunds, RateLimited


class OncePerMinute(AnonRateThrottle):
    rate = "1/min"


@api_view(["POST"])
@permission_classes([AllowAny])
def echo(request):
    return Response({"got": request.data})


@api_view(["GET"])
@permission_classes([AllowAny])
def domain_error(request):
    raise InsufficientFunds("You need 60 coins.", details={"needed": 60})


@api_view(["GET"])
@permission_classes([AllowAny])
def crash(request):
    raise RuntimeError("boom")


@api_view(["GET"])
@permission_classes([AllowAny])
@throttle_classes([OncePerMinute])
def throttled(request):
    return Response({})


class Refuses(BaseThrottle):
    """Refuses every request, with the wait `?wait=` names (`none`: DRF's "unknown")."""

    def allow_request(self, request, view):
        self.raw_wait = request.query_params["wait"]
        return False

    def wait(self):
        return None if self.raw_wait == "none" else float(self.raw_wait)


# Real failures of each store, by name: clients of servers that are not there (a port where
# nothing listens), a connection PostgreSQL terminated, and a statement PostgreSQL cancelled.
NOWHERE = 1


def _postgres_terminated() -> None:
    # What a server restart or pg_terminate_backend does to an open connection.
    with psycopg.connect(**connection.get_connection_params()) as victim:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [victim.info.backend_pid])
        victim.execute("SELECT 1")


def _postgres_statement_cancelled() -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = 1")
        cursor.execute("SELECT pg_sleep(1)")


STORE_FAILURES = {
    "redis": lambda: redis.Redis(port=NOWHERE, socket_connect_timeout=0.5).ping(),
    "mongo": lambda: pymongo.MongoClient(port=NOWHERE, serverSelectionTimeoutMS=200).admin.command(
        "ping"
    ),
    "postgres-refused": postgres_connect_refused,
    "postgres-terminated": _postgres_terminated,
    "postgres-statement-cancelled": _postgres_statement_cancelled,
}


@api_view(["GET"])
@permission_classes([AllowAny])
@throttle_classes([Refuses])
def refused(request):
    return Response({})


@api_view(["GET"])
@permission_classes([AllowAny])
def service_limited(request):
    raise RateLimited("Too many things.", retry_after=float(request.query_params["wait"]))


@api_view(["GET"])
@permission_classes([AllowAny])
def store_failure(request, name):
    STORE_FAILURES[name]()
    return Response({})


@api_view(["GET"])
def private(request):
    return Response({})


urlpatterns = [
    path("api/test/echo", echo),
    path("api/test/domain", domain_error),
    path("api/test/crash", crash),
    path("api/test/throttled", throttled),
    path("api/test/private", private),
    path("api/test/refused", refused),
    path("api/test/service-limited", service_limited),
    path("api/test/store/<str:name>", store_failure),
    path("", include("videochat.urls")),
]
