"""A local stand-in for Stripe's API (pytest-httpserver) and Stripe's webhook signature, for
the Checkout and Connect tests: the library under test talks to it instead of the network.
Each test registers the requests it expects, and the stand-in checks them as Stripe would
(path, form body, secret key, idempotency key)."""

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

STRIPE_TEST_KEY = "sk_test_standin_0123456789"
STRIPE_WEBHOOK_TEST_SECRET = "whsec_test_standin_webhook"
STRIPE_CONNECT_WEBHOOK_TEST_SECRET = "whsec_test_standin_connect"


@pytest.fixture
def stripe_api(httpserver: HTTPServer, settings) -> Iterator[HTTPServer]:  # type: ignore[no-untyped-def]
    """The stand-in, with the settings pointing the wallet's Stripe client at it. Fails the
    test if a request came that no handler expected."""
    settings.STRIPE_API_BASE = httpserver.url_for("/").rstrip("/")
    settings.STRIPE_SECRET_KEY = STRIPE_TEST_KEY
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_WEBHOOK_TEST_SECRET
    settings.STRIPE_CONNECT_WEBHOOK_SECRET = STRIPE_CONNECT_WEBHOOK_TEST_SECRET
    yield httpserver
    httpserver.check_assertions()


def stripe_signature(body: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe sends with `body` (its documented scheme:
    HMAC-SHA256 of "<timestamp>.<body>" with the endpoint's secret)."""
    at = int(time.time()) if timestamp is None else timestamp
    signed = f"{at}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def stripe_event(
    event_type: str, obj: dict[str, Any], *, event_id: str = "", account: str | None = None
) -> bytes:
    """A Stripe event's JSON body as Stripe posts it to a webhook endpoint (`account`: the
    connected account it happened on, for Connect's endpoint)."""
    body = {
        "id": event_id or f"evt_test_{secrets.token_hex(12)}",
        "object": "event",
        **({"account": account} if account is not None else {}),
        "api_version": "2025-09-30.clover",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": obj},
    }
    return json.dumps(body).encode()


def stripe_error(status: int, type_: str, message: str, **fields: str) -> Response:
    """An error answer of Stripe's API, in its shape."""
    body = {"error": {"type": type_, "message": message, **fields}}
    return Response(json.dumps(body), status=status, content_type="application/json")
