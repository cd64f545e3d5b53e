"""The one list shape of the API (API.md, Conventions): `{"results": [...], "next": <cursor>}`.

Pages are keyset pages, newest first by primary key: `?cursor=` resumes strictly below the
last row of the previous page, so rows written while a client pages never shift, repeat or
skip a row (offset pages would), and a page costs one index range scan however deep it is.
The cursor is opaque to clients: they hand back what `next` said and never build one.
"""

import base64
import binascii
import re
from typing import Any

from django.db.models import Model, QuerySet
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from videochat.errors import ValidationFailed

_CANONICAL_ID = re.compile(r"[1-9][0-9]{0,18}")
# Ids are PostgreSQL bigints; nothing above fits a row, a Redis count or an offset.
CURSOR_MAX = 2**63 - 1


def cursor_encode(pk: int) -> str:
    """The opaque token that resumes a listing below the row `pk`."""
    return base64.urlsafe_b64encode(str(pk).encode()).decode().rstrip("=")


def cursor_decode(cursor: str, *, maximum: int = CURSOR_MAX) -> int:
    """The row id (or position) inside a cursor; ValidationFailed for anything
    `cursor_encode` did not make or that is above `maximum`, so a garbled or hand-made
    cursor is a 400 rather than a silent wrong page or a store's error."""
    invalid = ValidationFailed(
        "The cursor is not valid.", details={"cursor": ["Use the `next` value of a page."]}
    )
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid from None
    # Canonical digits only, re-encoding to the same text: no sign, spaces, `_` or leading
    # zeros that int() would quietly accept.
    if not _CANONICAL_ID.fullmatch(raw) or cursor_encode(int(raw)) != cursor:
        raise invalid
    if int(raw) > maximum:
        raise invalid
    return int(raw)


class NewestFirstPagination(BasePagination):
    """Keyset pagination on the primary key, newest first, for any queryset whose ids grow
    with time. `?limit=` is 1 to `max_limit` (default `default_limit`); the answer is exactly
    `{"results", "next"}` with `next` null on the last page."""

    default_limit = 20
    max_limit = 100

    def __init__(self) -> None:
        self.next_cursor: str | None = None

    # Keyset pages filter on the primary key: a queryset only, never a plain list.
    def paginate_queryset(  # type: ignore[override]
        self, queryset: QuerySet[Model], request: Request, view: APIView | None = None
    ) -> list[Model]:
        limit = self._limit(request)
        cursor = request.query_params.get("cursor")
        if cursor is not None:
            queryset = queryset.filter(pk__lt=cursor_decode(cursor))
        # One row beyond the page tells whether another page exists, without a COUNT.
        rows = list(queryset.order_by("-pk")[: limit + 1])
        page = rows[:limit]
        self.next_cursor = cursor_encode(page[-1].pk) if len(rows) > limit else None
        return page

    def _limit(self, request: Request) -> int:
        raw = request.query_params.get("limit")
        if raw is None:
            return self.default_limit
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= self.max_limit:
            raise ValidationFailed(
                "The limit is not valid.",
                details={"limit": [f"A whole number from 1 to {self.max_limit}."]},
            )
        return int(raw)

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"results": data, "next": self.next_cursor})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["results", "next"],
            "properties": {
                "results": schema,
                "next": {
                    "type": "string",
                    "nullable": True,
                    "description": "Pass as `?cursor=` for the next page; null on the last.",
                },
            },
        }

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        return [
            {
                "name": "cursor",
                "in": "query",
                "required": False,
                "description": "The `next` value of the previous page (opaque).",
                "schema": {"type": "string"},
            },
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": f"Page size, 1 to {self.max_limit} (default {self.default_limit}).",
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_limit,
                    "default": self.default_limit,
                },
            },
        ]
