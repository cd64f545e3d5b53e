"""One error shape for every client-facing failure (API.md, Conventions):

    {"error": {"code": "<snake_case>", "message": "<human text>", "details": {...}}}

Services raise `ApplicationError` (or one of its named subclasses); the DRF exception
handler, the Django error views and the WebSocket gateway all turn errors into this shape
through `error_body()`, so no client ever sees an HTML page or a framework's own format.
"""

import logging
import math
from typing import Any

import psycopg
import pymongo.errors
import redis.exceptions
from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import utils as db
from django.http import Http404, HttpRequest, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from django_redis.exceptions import ConnectionInterrupted
from rest_framework import exceptions as drf
from rest_framework.parsers import (  # type: ignore[attr-defined]  # get_encoding: not in the stubs
    JSONParser,
    get_encoding,
)
from rest_framework.response import Response
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from videochat.client_json import client_json_loads

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A domain rule said no. Subclasses fix the code and status clients rely on."""

    code = "validation_error"
    status = 400

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def headers(self) -> dict[str, str]:
        """HTTP headers a REST answer with this error carries."""
        return {}


class ValidationFailed(ApplicationError):
    code, status = "validation_error", 400


class NotAuthenticated(ApplicationError):
    code, status = "not_authenticated", 401


class PermissionDenied(ApplicationError):
    code, status = "permission_denied", 403


class HostNotVerified(ApplicationError):
    code, status = "host_not_verified", 403


class Blocked(ApplicationError):
    code, status = "blocked", 403


class NotFound(ApplicationError):
    code, status = "not_found", 404


class InsufficientFunds(ApplicationError):
    code, status = "insufficient_funds", 402


class Conflict(ApplicationError):
    code, status = "conflict", 409


class IdempotencyMismatch(ApplicationError):
    code, status = "idempotency_mismatch", 409


class AccountRestricted(ApplicationError):
    """An unsettled refund or chargeback: no spending or withdrawing until it is settled."""

    code, status = "account_restricted", 403


class PayoutsNotEnabled(ApplicationError):
    code, status = "payouts_not_enabled", 409


class InvalidReceipt(ApplicationError):
    """A store transaction that fails verification."""

    code, status = "invalid_receipt", 400


def retry_after_seconds(wait: float | None) -> int:
    """What every 429 tells the client to wait: whole seconds, rounded up, at least 1 (also
    when the limiter cannot say)."""
    return 1 if wait is None else max(1, math.ceil(wait))


class RetryLater(ApplicationError):
    """An error the client may retry after a wait: whole seconds in `details.retry_after`
    and, on REST, the `Retry-After` header."""

    default_retry_after: float | None = None

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.retry_after = retry_after_seconds(
            self.default_retry_after if retry_after is None else retry_after
        )
        super().__init__(message, details={**(details or {}), "retry_after": self.retry_after})

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class RateLimited(RetryLater):
    """Too many requests. Every limiter raises this with the seconds until the client may
    try again (both doors answer it with an integer `details.retry_after`)."""

    code, status = "rate_limited", 429

    def __init__(
        self,
        message: str = "Too many requests; slow down.",
        *,
        retry_after: float | None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, retry_after=retry_after, details=details)


class ServiceUnavailable(RetryLater):
    """A store is down, restarting or busy: the client may retry the same request (with its
    Idempotency-Key or client_id) and nothing happens twice."""

    code, status = "service_unavailable", 503
    # A store's restart takes about that long.
    default_retry_after = 5

    def __init__(
        self,
        message: str = "The service is briefly unavailable; try again shortly.",
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)


class DatabaseUnavailable(ServiceUnavailable, db.OperationalError):
    """No PostgreSQL connection came free within DATABASE_POOL_TIMEOUT_SECONDS (the process's
    pool is exhausted, or the server is unreachable). Still a database error to code that
    catches those."""


# --- Store outages ---------------------------------------------------------------------------
# A store that is down, restarting or not answering in time fails the request with 503
# `service_unavailable` and a Retry-After, on both doors (REST and socket): the client may
# retry the same request (with its Idempotency-Key or client_id) and nothing happens twice.

# PostgreSQL error codes that say the server is gone or can't take us now, not that the
# statement was wrong: class 08 (connection exception), 57P01-57P03 (shutting down, crashed,
# starting up: what pg_terminate_backend and a restart send) and 53300 (too many clients).
# A client-side failure (refused, reset, closed) has no code at all.
_PG_UNAVAILABLE = ("08", "57P01", "57P02", "57P03", "53300")


def store_unavailable(exc: BaseException) -> str | None:
    """The store ("postgres", "redis" or "mongo") that `exc` says is unreachable or did not
    answer in time, or None for any other error (a deadlock or a bad query stays a bug)."""
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return "redis"
    if isinstance(exc, ConnectionInterrupted):  # django-redis' wrapper (cache, throttles)
        return "redis"
    if isinstance(exc, pymongo.errors.ConnectionFailure):
        return "mongo"
    if isinstance(exc, pymongo.errors.PyMongoError) and exc.timeout:
        return "mongo"
    if isinstance(exc, db.InterfaceError | psycopg.InterfaceError):
        return "postgres"  # the connection is closed
    if isinstance(exc, db.OperationalError | psycopg.OperationalError):
        # Django's errors carry psycopg's as their cause.
        cause = exc if isinstance(exc, psycopg.Error) else exc.__cause__
        sqlstate = getattr(cause, "sqlstate", None)
        if sqlstate is None or sqlstate.startswith(_PG_UNAVAILABLE):
            return "postgres"
    return None


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(
    code: str, message: str, status: int, details: dict[str, Any] | None = None
) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status)


class PayloadTooLarge(drf.APIException):
    status_code = 413
    default_detail = "Request body is too large."
    default_code = "payload_too_large"


class LimitedJSONParser(JSONParser):
    """JSONParser that reads at most API_MAX_BODY_BYTES (DRF reads the raw request stream,
    so Django's DATA_UPLOAD_MAX_MEMORY_SIZE never applies to JSON bodies) and only I-JSON,
    as the socket does (`videochat.client_json`)."""

    def parse(self, stream, media_type=None, parser_context=None):  # type: ignore[no-untyped-def]
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"Request body is larger than {limit} bytes.")
        try:
            return client_json_loads(raw.decode(get_encoding(parser_context or {})))
        except ValueError as exc:  # UnicodeDecodeError included
            raise drf.ParseError(f"JSON parse error - {exc}") from exc


# DRF exception class -> (status, code). Anything not listed keeps DRF's status and uses
# DRF's own snake_case code.
_DRF_CODES: list[tuple[type[Exception], int, str]] = [
    (InvalidToken, 401, "not_authenticated"),
    (drf.NotAuthenticated, 401, "not_authenticated"),
    (drf.AuthenticationFailed, 401, "not_authenticated"),
    (drf.PermissionDenied, 403, "permission_denied"),
    (drf.NotFound, 404, "not_found"),
    (drf.ParseError, 400, "validation_error"),
    (drf.ValidationError, 400, "validation_error"),
    (drf.MethodNotAllowed, 405, "method_not_allowed"),
    (drf.UnsupportedMediaType, 415, "unsupported_media_type"),
    (drf.NotAcceptable, 406, "not_acceptable"),
]


def _drf_details(exc: drf.APIException) -> dict[str, Any]:
    if isinstance(exc, drf.ValidationError):
        detail = exc.detail
        return detail if isinstance(detail, dict) else {"non_field_errors": detail}
    return {}


def _drf_message(exc: drf.APIException) -> str:
    if isinstance(exc, drf.ValidationError):
        return "The request is not valid."
    if isinstance(exc, InvalidToken):
        return "The token is invalid or expired."
    detail: Any = exc.detail
    if isinstance(detail, dict):
        detail = detail.get("detail", exc.default_detail)
    if isinstance(detail, list):
        detail = detail[0] if detail else exc.default_detail
    return str(detail)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every error raised in a view leaves in the one shape. The
    gateway calls it too, with `context["where"]` naming the socket event for the logs."""
    headers: dict[str, str] = {}
    if isinstance(exc, drf.Throttled):
        # DRF's throttles answer like every other limiter.
        exc = RateLimited(retry_after=getattr(exc, "wait", None))
    if isinstance(exc, ApplicationError):
        return Response(
            error_body(exc.code, exc.message, exc.details), status=exc.status, headers=exc.headers()
        )
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    elif isinstance(exc, TokenError):
        exc = InvalidToken(str(exc))
    if isinstance(exc, drf.APIException):
        status, code = exc.status_code, exc.default_code
        for cls, mapped_status, mapped_code in _DRF_CODES:
            if isinstance(exc, cls):
                status, code = mapped_status, mapped_code
                break
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
        return Response(
            error_body(str(code), _drf_message(exc), _drf_details(exc)),
            status=status,
            headers=headers,
        )
    where = getattr(context.get("request"), "path", None) or context.get("where", "?")
    store = store_unavailable(exc)
    if store is not None:
        # An outage, not a bug: one line per failed request, no traceback.
        logger.warning("%s unavailable in %s: %r", store, where, exc)
        return api_exception_handler(ServiceUnavailable(), context)
    logger.exception("Unhandled error in %s", where, exc_info=exc)
    return Response(error_body("server_error", "Something went wrong on our side."), status=500)


# Django-level handlers, for what never reaches a DRF view (unknown URLs, crashes outside
# views). HTML stays for the admin and the docs; anything under /api/ gets JSON.


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/healthz")


def handler400(request: HttpRequest, exception: Exception | None = None) -> Any:
    if _wants_json(request):
        return error_response("validation_error", "Bad request.", 400)
    return defaults.bad_request(request, exception or Exception())


def handler403(request: HttpRequest, exception: Exception | None = None) -> Any:
    if _wants_json(request):
        return error_response("permission_denied", "You may not do that.", 403)
    return defaults.permission_denied(request, exception or Exception())


def handler404(request: HttpRequest, exception: Exception | None = None) -> Any:
    if _wants_json(request):
        return error_response("not_found", "Not found.", 404)
    return defaults.page_not_found(request, exception or Exception())


def handler500(request: HttpRequest) -> Any:
    if _wants_json(request):
        return error_response("server_error", "Something went wrong on our side.", 500)
    return defaults.server_error(request)


@csrf_exempt
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Catch-all for unknown /api/ paths: JSON even when DEBUG would render a debug page.
    CSRF-exempt like every API view: otherwise a POST (which carries no CSRF token) got
    the CSRF middleware's HTML 403 instead of this 404."""
    return error_response("not_found", f"No API endpoint at {request.path}.", 404)
