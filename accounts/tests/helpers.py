"""Assertions shared by the accounts API tests."""

from typing import Any, cast

from django.conf import settings


def throttle_limit(scope: str) -> int:
    """How many requests the configured rate of `scope` ("10/min") lets through."""
    rates = cast(dict[str, dict[str, str]], settings.REST_FRAMEWORK)["DEFAULT_THROTTLE_RATES"]
    return int(rates[scope].split("/")[0])


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is the API's one error shape with this status and code; returns the
    `error` object for further checks."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["details"], dict), error
    return error
