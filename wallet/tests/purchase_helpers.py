"""What the purchase tests share: the sandbox provider's secret (the `payment_sandbox`
fixture, conftest.py, configures it), purchases started as the app starts them, and the
provider's signed webhook bodies."""

import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any

from rest_framework.test import APIClient

from accounts.models import User
from tests.factories import CoinPackageFactory
from wallet.purchases.models import Purchase

SANDBOX_SECRET = "test-sandbox-secret"
WEBHOOK = "/api/v1/payments/webhook/sandbox"


def buy(user: User, coins: int = 100, price: str = "4.99", currency: str = "USD") -> Purchase:
    """A purchase started through the API, as the app starts it."""
    package = CoinPackageFactory.create(coins=coins, price=Decimal(price), currency=currency)
    client = APIClient()
    client.force_authenticate(user)
    response = client.post("/api/v1/wallet/purchases", {"package_id": package.pk}, format="json")
    assert response.status_code == 201, response.content
    return Purchase.objects.get(pk=response.json()["id"])


def event(purchase: Purchase, type: str = "payment.succeeded", **fields: Any) -> bytes:
    """The sandbox provider's body for `purchase`, as API.md (Configuration) gives it."""
    body = {
        "type": type,
        "provider_ref": purchase.provider_ref,
        "amount": str(purchase.price),
        "currency": purchase.currency,
        **fields,
    }
    return json.dumps(body).encode()


def sign(body: bytes, secret: str = SANDBOX_SECRET) -> str:
    """The sandbox provider's X-Signature for `body`."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
