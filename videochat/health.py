"""GET /healthz: really talks to PostgreSQL, Redis and MongoDB, so a load balancer takes a
process out of rotation when one of its stores is gone."""

import logging
from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET
from django_redis import get_redis_connection
from mongoengine.connection import get_db

from videochat.errors import error_body

logger = logging.getLogger(__name__)


def _postgres() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis() -> None:
    get_redis_connection("default").ping()


def _mongo() -> None:
    get_db().command("ping")


CHECKS: dict[str, Callable[[], None]] = {"postgres": _postgres, "redis": _redis, "mongo": _mongo}


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:
            logger.warning("health check %s failed: %s", name, exc)
            checks[name] = f"unavailable: {type(exc).__name__}"
        else:
            checks[name] = "ok"
    failed = [name for name, result in checks.items() if result != "ok"]
    if not failed:
        return JsonResponse({"status": "ok", "checks": checks})
    body = {
        "status": "unavailable",
        "checks": checks,
        **error_body(
            "service_unavailable", f"Unavailable: {', '.join(failed)}.", {"failed": failed}
        ),
    }
    return JsonResponse(body, status=503)
