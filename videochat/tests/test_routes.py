"""Every REST route of the URL configuration (API.md, Conventions): without a token each one
that needs it answers 401 `not_authenticated`, and each method a route does not take answers
405 `method_not_allowed`, both in the one error shape. The routes are read from the
resolver, so a new route is checked without anyone listing it here."""

import re
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from accounts.models import User
from tests.helpers import assert_error

# The routes anyone may call: logging in, registering, the providers' signed webhooks.
PUBLIC = {
    "api/v1/auth/register",
    "api/v1/auth/token",
    "api/v1/auth/token/refresh",
    "api/v1/payments/webhook/<str:provider>",
    "api/v1/payouts/webhook/stripe",
}
METHODS = ("get", "post", "put", "patch", "delete")
# A value for each path converter: the token or the method is refused before any lookup.
SAMPLE = {"int": "1", "str": "x"}


def api_routes() -> dict[str, set[str]]:
    """`route -> methods its view takes` for every REST view under /api/v1/."""
    routes: dict[str, set[str]] = {}

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern) and hasattr(pattern.callback, "cls"):
                view = pattern.callback.cls
                routes[prefix + str(pattern.pattern)] = {m for m in METHODS if hasattr(view, m)}

    walk(get_resolver("videochat.urls").url_patterns, "")
    return {route: methods for route, methods in routes.items() if route.startswith("api/v1/")}


ROUTES = api_routes()


def url(route: str) -> str:
    return "/" + re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLE[m.group(1) or "str"], route)


def call(client: APIClient, method: str, route: str) -> Any:
    return getattr(client, method)(url(route), format="json")


def test_the_routes_are_found_and_the_public_ones_exist():
    assert len(ROUTES) > 20, ROUTES
    assert all(ROUTES.values()), ROUTES
    assert set(ROUTES) >= PUBLIC, PUBLIC - set(ROUTES)


@pytest.mark.parametrize(
    ("method", "route"),
    [
        (method, route)
        for route, methods in ROUTES.items()
        if route not in PUBLIC
        for method in sorted(methods)
    ],
)
def test_without_a_token_a_route_answers_401(api, method, route):
    assert_error(call(api, method, route), 401, "not_authenticated")


@pytest.mark.parametrize(
    ("method", "route"),
    [
        (method, route)
        for route, methods in ROUTES.items()
        for method in METHODS
        if method not in methods
    ],
)
def test_a_method_the_route_does_not_take_answers_405(client_for, alice: User, method, route):
    assert_error(call(client_for(alice), method, route), 405, "method_not_allowed")
