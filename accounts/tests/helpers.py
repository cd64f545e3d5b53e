"""Assertions shared by the accounts API tests."""

from typing import cast

from django.conf import settings
from rest_framework.test import APIClient

from tests.factories import PASSWORD


def throttle_limit(scope: str) -> int:
    """How many requests the configured rate of `scope` ("10/min") lets through."""
    rates = cast(dict[str, dict[str, str]], settings.REST_FRAMEWORK)["DEFAULT_THROTTLE_RATES"]
    return int(rates[scope].split("/")[0])


def bearer(token: str) -> APIClient:
    """A client sending this access token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def login(api: APIClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    """A new login session of the account: its `{"access", "refresh"}` pair."""
    response = api.post("/api/v1/auth/token", {"email": email, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()
