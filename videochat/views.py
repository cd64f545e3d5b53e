"""What every app's API views share."""

from typing import TYPE_CHECKING, cast

from django.conf import settings
from rest_framework.request import Request

from videochat.errors import PayloadTooLarge, ValidationFailed

if TYPE_CHECKING:
    from accounts.models import User


def caller(request: Request) -> "User":
    """The authenticated user of a view behind IsAuthenticated (the default permission)."""
    return cast("User", request.user)


# API.md, Conventions: "any string up to 64 chars".
IDEMPOTENCY_KEY_MAX_LENGTH = 64


def idempotency_key(request: Request) -> str:
    """The request's `Idempotency-Key` header ("" when absent); 400 `validation_error` on
    `Idempotency-Key` when it is longer than IDEMPOTENCY_KEY_MAX_LENGTH."""
    key = request.headers.get("Idempotency-Key", "")
    if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise ValidationFailed(
            "The Idempotency-Key header is too long.",
            details={"Idempotency-Key": [f"At most {IDEMPOTENCY_KEY_MAX_LENGTH} characters."]},
        )
    return key


def raw_body(request: Request) -> bytes:
    """The body exactly as sent, for webhooks whose signature covers it: read from the
    stream, never through DRF's parsers, and capped like every other body
    (API_MAX_BODY_BYTES: 413 `payload_too_large` above)."""
    stream = request.stream
    if stream is None:
        return b""
    limit = settings.API_MAX_BODY_BYTES
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge(f"Request body is larger than {limit} bytes.")
    return raw
