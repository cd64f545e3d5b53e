"""OpenAPI pieces every app's views share: the one error envelope (API.md, Conventions) and
a helper that documents which error statuses an endpoint can answer with."""

from typing import Any

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorBodySerializer(serializers.Serializer[dict[str, Any]]):
    code = serializers.CharField(help_text="Stable snake_case code clients branch on.")
    message = serializers.CharField(help_text="Human-readable text; may change.")
    details = serializers.DictField(
        help_text="Extra facts: for `validation_error` a list of messages per field name."
    )


class ErrorSerializer(serializers.Serializer[dict[str, Any]]):
    """The body of every error response, whatever raised it."""

    error = ErrorBodySerializer()


# What each status means across the API; the `error.code` clients see is named first.
_ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "`validation_error`: the body or query is malformed or breaks a rule; "
    "`details` names the fields. `invalid_receipt`: a store transaction failed verification.",
    401: "`not_authenticated`: missing, invalid, expired or revoked token, or wrong credentials.",
    402: "`insufficient_funds`: the balance does not cover this.",
    403: "`permission_denied` (or `blocked`, `host_not_verified`, `account_restricted`: an "
    "unsettled refund or chargeback): the caller may not do this.",
    404: "`not_found`: no such object, or it is hidden from the caller.",
    409: "`conflict` (or `payouts_not_enabled`, `callee_busy`, ...): the request clashes with "
    "the current state.",
    413: "`payload_too_large`: the JSON body is larger than the API accepts.",
    429: "`rate_limited`: too many requests; the `Retry-After` header (and "
    "`details.retry_after`) say how many seconds to wait.",
    503: "`service_unavailable`: a store or provider can't be reached now; retry later.",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """`responses=` entries for the given error statuses, all in the shared envelope:
    `extend_schema(responses={200: X, **error_responses(400, 401)})`."""
    return {
        status: OpenApiResponse(ErrorSerializer, description=_ERROR_DESCRIPTIONS[status])
        for status in statuses
    }
