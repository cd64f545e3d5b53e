"""Bodies of the purchase endpoints (API.md, Wallet)."""

from typing import Any

from rest_framework import serializers

from wallet.purchases.models import CoinPackage, PaymentEvent, Purchase
from wallet.purchases.providers import PAYMENT_FAILED, PAYMENT_SUCCEEDED
from wallet.purchases.services import PurchaseStarted, StorePurchaseCredited


class CoinPackageSerializer(serializers.ModelSerializer[CoinPackage]):
    class Meta:
        model = CoinPackage
        fields = ["id", "coins", "price", "currency", "product_id"]
        extra_kwargs = {
            "price": {"help_text": 'Decimal string, e.g. "4.99".'},
            "currency": {"help_text": "ISO 4217 code, e.g. USD."},
            "product_id": {
                "help_text": "The product the iOS and Android apps buy in the App Store and "
                "Google Play for this package; empty when it is sold on the web only."
            },
        }


class PurchaseCreateSerializer(serializers.Serializer[dict[str, Any]]):
    package_id = serializers.IntegerField(min_value=1)
    provider = serializers.CharField(
        required=False,
        max_length=30,
        help_text="Payment provider; the server's default (the first configured one) when left "
        "out. `sandbox` in development.",
    )


class PurchaseCheckoutSerializer(serializers.Serializer[PurchaseStarted]):
    """A `PurchaseStarted`: the purchase and how to pay for it."""

    id = serializers.IntegerField(source="purchase.id")
    status = serializers.ChoiceField(
        source="purchase.status",
        choices=Purchase.Status.choices,
        help_text="`pending` for a new purchase; a replayed request shows the current status.",
    )
    provider = serializers.CharField(source="purchase.provider")
    checkout = serializers.DictField(
        help_text="What the client opens to pay; its keys depend on the provider. sandbox: "
        '`{"purchase_id": int, "provider_ref": str}`.'
    )


class AppStorePurchaseSerializer(serializers.Serializer[dict[str, Any]]):
    signed_transaction = serializers.CharField(
        max_length=16_000,
        trim_whitespace=True,
        help_text="The signed transaction (JWS) StoreKit 2 gave the app for the purchase.",
    )


class GooglePlayPurchaseSerializer(serializers.Serializer[dict[str, Any]]):
    product_id = serializers.CharField(max_length=100, help_text="The Play product id bought.")
    purchase_token = serializers.CharField(
        max_length=300, help_text="The purchase token Google Play Billing gave the app."
    )


class StorePurchaseSerializer(serializers.Serializer[StorePurchaseCredited]):
    """A store purchase, credited."""

    id = serializers.IntegerField(source="purchase.id")
    status = serializers.ChoiceField(
        source="purchase.status",
        choices=Purchase.Status.choices,
        help_text="`credited`; a transaction sent again shows the purchase's current status "
        "(`reversed` once the store refunded or revoked it).",
    )
    provider = serializers.CharField(source="purchase.provider")
    coins = serializers.IntegerField(source="purchase.coins")
    price = serializers.DecimalField(source="purchase.price", max_digits=10, decimal_places=2)
    currency = serializers.CharField(source="purchase.currency")
    provider_ref = serializers.CharField(
        source="purchase.provider_ref",
        help_text="The store's id of the transaction (App Store transactionId, Play orderId).",
    )
    created_at = serializers.DateTimeField(source="purchase.created_at")


# Documentation only: the webhook verifies and reads the raw bytes (wallet.purchases.providers).
class SandboxWebhookEventSerializer(serializers.Serializer[dict[str, Any]]):
    """The sandbox provider's event. Real providers post their own format to their own
    `{provider}` path."""

    type = serializers.ChoiceField(choices=[PAYMENT_SUCCEEDED, PAYMENT_FAILED])
    provider_ref = serializers.CharField(
        max_length=100, help_text="The `provider_ref` of the purchase's checkout."
    )
    amount = serializers.CharField(
        help_text='The purchase\'s price as a decimal string, e.g. "4.99"; compared as a decimal.'
    )
    currency = serializers.CharField(
        min_length=3, max_length=3, help_text="ISO 4217 code; must match the purchase's."
    )


# Refused deliveries (bad signature, malformed) are answered with a 400 error instead.
_ANSWERED_OUTCOMES = [
    outcome
    for outcome in PaymentEvent.Outcome
    if outcome not in (PaymentEvent.Outcome.BAD_SIGNATURE, PaymentEvent.Outcome.MALFORMED)
]


class PaymentWebhookResultSerializer(serializers.Serializer[dict[str, Any]]):
    status = serializers.ChoiceField(
        choices=[str(outcome) for outcome in _ANSWERED_OUTCOMES],
        help_text="What the delivery did: `credited` (coins added), `duplicate` (seen before), "
        "`marked_failed`, `unknown_reference`, `amount_mismatch` (nothing credited, staff "
        "review it) or `ignored`.",
    )
