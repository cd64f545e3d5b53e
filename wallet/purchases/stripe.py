"""Stripe Checkout for the web client (docs/payments.md, "Stripe Checkout"): a Checkout
Session created server-side for the purchase's price, and Stripe's signed webhook events
translated into ours (payments, refunds, disputes). Stripe is called only through
`wallet.stripe_api.stripe_client()`."""

import json
import logging
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from videochat.errors import ServiceUnavailable
from wallet.purchases.models import PaymentEvent, Purchase
from wallet.purchases.providers import (
    PAYMENT_FAILED,
    PAYMENT_REVERSED,
    PAYMENT_SUCCEEDED,
    BadSignature,
    MalformedWebhook,
    PaymentProvider,
    WebhookEvent,
)
from wallet.stripe_api import stripe_client

logger = logging.getLogger(__name__)

# Stripe amounts are integers in the currency's minor unit: cents for most currencies, but
# whole units for the zero-decimal ones and thousandths for the three-decimal ones
# (https://docs.stripe.com/currencies). ISK, HUF and TWD stay two-decimal in the API.
_ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA"}
    | {"PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
_THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})

_EVENT_TYPE_MAX = PaymentEvent._meta.get_field("event_type").max_length or 0
_PROVIDER_REF_MAX = Purchase._meta.get_field("provider_ref").max_length or 0


def minor_unit_exponent(currency: str) -> int:
    """How many decimal places Stripe's integer amounts have in `currency` (ISO 4217)."""
    code = currency.upper()
    if code in _ZERO_DECIMAL:
        return 0
    if code in _THREE_DECIMAL:
        return 3
    return 2


def to_minor_units(amount: Decimal, currency: str) -> int:
    """`amount` (major units) as Stripe's integer amount; ValueError when it has more
    decimals than the currency (a JPY price with cents cannot be charged exactly)."""
    scaled = amount.scaleb(minor_unit_exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} {currency} is not a whole number of minor units.")
    return int(scaled)


def from_minor_units(amount: int, currency: str) -> Decimal:
    """Stripe's integer amount in major units, exactly (499 USD -> 4.99, 500 JPY -> 500)."""
    return Decimal(amount).scaleb(-minor_unit_exponent(currency))


class StripeProvider(PaymentProvider):
    """Stripe Checkout: the web client is redirected to Stripe's hosted page (no Stripe
    script in our pages), and Stripe confirms the payment with a signed webhook."""

    name = "stripe"
    signature_field = "Stripe-Signature"

    def __init__(self) -> None:
        self._client = stripe_client()  # ImproperlyConfigured without STRIPE_SECRET_KEY
        secret = settings.STRIPE_WEBHOOK_SECRET
        if not secret:
            raise ImproperlyConfigured(
                "STRIPE_WEBHOOK_SECRET is not set: Stripe's webhooks cannot be verified, so no "
                "Stripe payment could be credited. Set it to the endpoint's whsec_... secret."
            )
        self._webhook_secret: str = secret
        self._tolerance: int = settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS
        success_url, cancel_url = (
            settings.STRIPE_CHECKOUT_SUCCESS_URL,
            settings.STRIPE_CHECKOUT_CANCEL_URL,
        )
        if not success_url or not cancel_url:
            raise ImproperlyConfigured(
                "STRIPE_CHECKOUT_SUCCESS_URL and STRIPE_CHECKOUT_CANCEL_URL must be set: "
                "Stripe Checkout sends the buyer back there."
            )
        self._success_url: str = success_url
        self._cancel_url: str = cancel_url

    def create_checkout(self, purchase: Purchase) -> dict[str, Any]:
        """`{"url"}` of a Checkout Session for the purchase's price. The idempotency key is
        derived from the purchase, so every replay of the purchase request answers the same
        session (Stripe keeps keys for 24 hours; a session expires after 24 hours)."""
        if purchase.status in (Purchase.Status.CREDITED, Purchase.Status.REVERSED):
            # Paid already: a replayed request must not open a way to pay twice (after 24
            # hours Stripe would make a new session for the same key).
            return {"url": None}
        try:
            unit_amount = to_minor_units(purchase.price, purchase.currency)
        except ValueError as exc:
            logger.error("Purchase %s cannot be sold through Stripe: %s", purchase.pk, exc)
            raise ServiceUnavailable("Card payments are not available right now.") from exc
        metadata = {"provider_ref": purchase.provider_ref, "purchase_id": str(purchase.pk)}
        try:
            session = self._client.v1.checkout.sessions.create(
                params={
                    "mode": "payment",
                    "line_items": [
                        {
                            "quantity": 1,
                            "price_data": {
                                "currency": purchase.currency.lower(),
                                "unit_amount": unit_amount,
                                "product_data": {"name": f"{purchase.coins} coins"},
                            },
                        }
                    ],
                    "client_reference_id": purchase.provider_ref,
                    "metadata": metadata,
                    # On the payment intent (and so its charges) too: refunds and disputes
                    # name the payment intent, not the session.
                    "payment_intent_data": {"metadata": metadata},
                    "success_url": self._success_url,
                    "cancel_url": self._cancel_url,
                },
                options={"idempotency_key": f"checkout:{purchase.provider_ref}"},
            )
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as exc:
            # Stripe is unreachable, failing or busy (network errors and 5xx were already
            # retried by the library, with the same key): the purchase stays pending and the
            # client's retry with its Idempotency-Key tries again.
            logger.warning("Stripe Checkout unavailable for purchase %s: %r", purchase.pk, exc)
            raise ServiceUnavailable("Card payments are briefly unavailable; try again.") from exc
        except stripe.StripeError as exc:
            # Our request or key is wrong (invalid request, authentication, idempotency
            # conflict): nothing the client could change, so the same 503, and the operator
            # reads why here.
            logger.error("Stripe refused the Checkout for purchase %s: %r", purchase.pk, exc)
            raise ServiceUnavailable("Card payments are not available right now.") from exc
        if not session.url:
            logger.error(
                "Stripe Checkout session %s for purchase %s has no url", session.id, purchase.pk
            )
            raise ServiceUnavailable("Card payments are not available right now.")
        return {"url": session.url}

    def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verify `Stripe-Signature` (HMAC-SHA256 of "<t>.<body>", `t` no older than
        STRIPE_WEBHOOK_TOLERANCE_SECONDS: an old delivery replayed is refused), then
        translate the event."""
        try:
            stripe.WebhookSignature.verify_header(
                raw_body, headers.get("Stripe-Signature", ""), self._webhook_secret, self._tolerance
            )
        except stripe.SignatureVerificationError as exc:
            raise BadSignature(f"Stripe-Signature does not verify: {exc.user_message}") from exc
        except UnicodeDecodeError as exc:
            # Stripe signs the UTF-8 text of its JSON; these bytes cannot be what it signed.
            raise BadSignature("The body is not UTF-8 text, so Stripe did not sign it.") from exc
        return _event(raw_body)


def _event(raw_body: bytes) -> WebhookEvent:
    try:
        body = json.loads(raw_body)
    except (ValueError, RecursionError) as exc:
        raise MalformedWebhook("The body is not JSON.") from exc
    if not isinstance(body, dict) or body.get("object") != "event":
        raise MalformedWebhook("The body is not a Stripe event.")
    type_ = body.get("type")
    if not isinstance(type_, str) or not 0 < len(type_) <= _EVENT_TYPE_MAX:
        raise MalformedWebhook("`type` is missing or not valid.")
    event_id = body.get("id")
    data = body.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(event_id, str) or not isinstance(obj, dict):
        raise MalformedWebhook("`id` or `data.object` is missing.")
    # For support and for telling deliveries of one event apart from new events.
    about = {
        "event_id": event_id,
        "object_id": _id(obj.get("id")),
        "livemode": body.get("livemode") is True,
    }
    translate = _TRANSLATIONS.get(type_)
    if translate is None:
        return WebhookEvent(type=type_, metadata=about)
    return translate(type_, obj, about)


def _session(type_: str, session: dict[str, Any], about: dict[str, Any]) -> WebhookEvent:
    """A Checkout Session: paid (at once, or later for delayed methods), or its delayed
    payment failed. `completed` while still `unpaid` is a delayed method in flight."""
    provider_ref = _ref(session.get("client_reference_id")) or _metadata_ref(session)
    external_id = _id(session.get("payment_intent"))
    if type_ == "checkout.session.async_payment_failed":
        return WebhookEvent(
            type=PAYMENT_FAILED, provider_ref=provider_ref, external_id=external_id, metadata=about
        )
    if session.get("payment_status") != "paid":
        return WebhookEvent(
            type=type_, provider_ref=provider_ref, external_id=external_id, metadata=about
        )
    currency = _currency(session)
    return WebhookEvent(
        type=PAYMENT_SUCCEEDED,
        provider_ref=provider_ref,
        amount=from_minor_units(_minor(session, "amount_total"), currency),
        currency=currency,
        external_id=external_id,
        metadata=about,
    )


def _payment_intent(type_: str, intent: dict[str, Any], about: dict[str, Any]) -> WebhookEvent:
    provider_ref = _metadata_ref(intent)
    external_id = _id(intent.get("id"))
    if type_ == "payment_intent.payment_failed":
        return WebhookEvent(
            type=PAYMENT_FAILED, provider_ref=provider_ref, external_id=external_id, metadata=about
        )
    currency = _currency(intent)
    return WebhookEvent(
        type=PAYMENT_SUCCEEDED,
        provider_ref=provider_ref,
        amount=from_minor_units(_minor(intent, "amount_received"), currency),
        currency=currency,
        external_id=external_id,
        metadata=about,
    )


def _charge_refunded(type_: str, charge: dict[str, Any], about: dict[str, Any]) -> WebhookEvent:
    # `amount_refunded` is everything refunded so far: a repeated or partial refund takes
    # back only what was not taken back before.
    currency = _currency(charge)
    return WebhookEvent(
        type=PAYMENT_REVERSED,
        provider_ref=_metadata_ref(charge),
        amount=from_minor_units(_minor(charge, "amount_refunded"), currency),
        currency=currency,
        external_id=_id(charge.get("payment_intent")),
        reason="refund",
        metadata=about,
    )


def _dispute(type_: str, dispute: dict[str, Any], about: dict[str, Any]) -> WebhookEvent:
    # The disputed amount is withdrawn from our balance as soon as the dispute opens.
    currency = _currency(dispute)
    return WebhookEvent(
        type=PAYMENT_REVERSED,
        amount=from_minor_units(_minor(dispute, "amount"), currency),
        currency=currency,
        external_id=_id(dispute.get("payment_intent")),
        reason="chargeback",
        metadata=about,
    )


_TRANSLATIONS: dict[str, Callable[[str, dict[str, Any], dict[str, Any]], WebhookEvent]] = {
    "checkout.session.completed": _session,
    "checkout.session.async_payment_succeeded": _session,
    "checkout.session.async_payment_failed": _session,
    "payment_intent.succeeded": _payment_intent,
    "payment_intent.payment_failed": _payment_intent,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute,
}


def _ref(value: object) -> str:
    """Our provider_ref as Stripe carries it back ("" when absent: not a purchase of ours)."""
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > _PROVIDER_REF_MAX:
        raise MalformedWebhook("The purchase reference is not valid.")
    return value


def _metadata_ref(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata")
    return _ref(metadata.get("provider_ref")) if isinstance(metadata, dict) else ""


def _id(value: object) -> str:
    """A Stripe id, given as a string or as an expanded object."""
    if isinstance(value, dict):
        value = value.get("id")
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 255:
        raise MalformedWebhook("An object id is not valid.")
    return value


def _minor(obj: dict[str, Any], field: str) -> int:
    value = obj.get(field)
    # bool is an int in Python, and never an amount.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedWebhook(f"`{field}` is missing or not an amount.")
    return value


def _currency(obj: dict[str, Any]) -> str:
    value = obj.get("currency")
    if not isinstance(value, str) or len(value) != 3 or not value.isascii() or not value.isalpha():
        raise MalformedWebhook("`currency` is missing or not a three-letter code.")
    return value.upper()
