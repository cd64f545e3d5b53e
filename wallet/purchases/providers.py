"""Payment providers behind one interface (DESIGN.md: outside providers sit behind an interface
with a sandbox implementation that tests use).

Two kinds of provider:
- checkout providers (`sandbox`, `stripe`) tell the client how to pay for a purchase we
  created (the checkout) and confirm it by webhook;
- store providers (`appstore`, `googleplay`) verify a transaction the app completed in the
  store (`StoreProvider.verify`); the purchase is recorded and credited then.
Both turn their signed webhook deliveries into `WebhookEvent`s (payments, refunds,
revocations, chargebacks). Everything else (which purchase, whether to credit or take back,
how often) is decided once, in `wallet.purchases.services`, for every provider alike. Adding
a provider is described in docs/payments.md.
"""

import hashlib
import hmac
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, NoReturn

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from wallet.purchases.models import PaymentEvent, Purchase

# The event types the purchase services act on; a provider translates its own names into these
# (Stripe's `payment_intent.succeeded` becomes PAYMENT_SUCCEEDED). Other types are recorded
# and ignored.
PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_FAILED = "payment.failed"
# The payment was refunded, revoked or charged back: `amount` is how much of the price has
# been taken back so far, in all (Stripe's `amount_refunded`; the whole price for a store's
# refund or revocation), `reason` one of REVERSAL_REASONS.
PAYMENT_REVERSED = "payment.reversed"
REVERSAL_REASONS = ("refund", "revocation", "chargeback")

# Lengths of the PaymentEvent columns a verified event is stored in.
_EVENT_TYPE_MAX = PaymentEvent._meta.get_field("event_type").max_length or 0
_PROVIDER_REF_MAX = Purchase._meta.get_field("provider_ref").max_length or 0


@dataclass(frozen=True)
class WebhookEvent:
    """One verified webhook delivery, in our words. The purchase is found by `provider_ref`,
    or by `external_id` when the event names only the provider's id of the payment."""

    type: str
    provider_ref: str = ""
    amount: Decimal = Decimal(0)
    currency: str = ""
    external_id: str = ""
    # PAYMENT_REVERSED: one of REVERSAL_REASONS.
    reason: str = ""
    # PAYMENT_SUCCEEDED: the provider's id of the payment, kept as Purchase.external_id.
    metadata: dict[str, Any] = field(default_factory=dict)


class WebhookRejected(Exception):
    """The delivery cannot be trusted or read; the message says why (for logs and the
    provider's error response, never containing the secret)."""


class BadSignature(WebhookRejected):
    pass


class MalformedWebhook(WebhookRejected):
    pass


class UnknownProvider(LookupError):
    """No enabled provider has this name."""


class ReceiptRejected(Exception):
    """A store transaction failed verification; the message says why (it reaches the client
    as 400 `invalid_receipt`, so it names no secret)."""


@dataclass(frozen=True)
class StoreTransaction:
    """A store purchase the store's own verification confirmed."""

    # The store's id of this transaction, credited once (App Store `transactionId`, Google
    # Play `orderId`).
    provider_ref: str
    # The store's product, mapped to a CoinPackage by its `product_id`.
    product_id: str
    # Another id of the same payment that later notifications may name (Play's purchase
    # token).
    external_id: str = ""
    # What the store says was paid, when it says (App Store); else the package's price.
    price: Decimal | None = None
    currency: str = ""
    # For support: what else the store said (environment, dates, ...), JSON-able.
    metadata: dict[str, Any] = field(default_factory=dict)


class PaymentProvider(ABC):
    name: ClassVar[str]
    # Where the delivery's proof of origin travels: the key under which a refused
    # delivery's 400 says what was wrong.
    signature_field: ClassVar[str] = "signature"

    def create_checkout(self, purchase: Purchase) -> dict[str, Any]:
        """What the client needs to pay `purchase` at the provider (JSON-able). Called once
        when the purchase is created and again for every replay of that request, so it must
        be idempotent per purchase: a provider API call passes `purchase.provider_ref` as its
        idempotency key. May raise `videochat.errors.ServiceUnavailable` (the purchase stays
        pending; the client retries with the same Idempotency-Key). Store providers don't
        offer a checkout (`purchase_create` refuses them): their purchases are made in the
        app and arrive through `StoreProvider.verify`."""
        raise TypeError(f"{self.name} has no checkout")

    @abstractmethod
    def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verify and read one delivery. `headers` is case-insensitive (Django's
        `request.headers`). Raises BadSignature before looking at the body, MalformedWebhook
        when a verified body is not an event."""


class StoreProvider(PaymentProvider):
    """A store whose app completes the payment and sends us its proof."""

    @abstractmethod
    def verify(self, proof: Mapping[str, Any]) -> StoreTransaction:
        """Verify what the app sent (the request body, validated by the endpoint's
        serializer) with the store; raise ReceiptRejected when it is not a valid, completed
        purchase of this app, or ServiceUnavailable when the store cannot be asked now."""

    def after_credit(self, transaction: StoreTransaction) -> None:
        """Called after the purchase is credited (committed), and again whenever the same
        transaction is sent again: tell the store it was delivered (Google Play's
        acknowledge/consume). Failures are logged by the caller; a replay retries."""


class SandboxProvider(PaymentProvider):
    """The built-in test double (API.md, Configuration): the checkout names the purchase, and
    whoever holds PAYMENTS_SANDBOX_SECRET can confirm it with a signed webhook."""

    name = "sandbox"
    signature_field = "X-Signature"

    def __init__(self) -> None:
        secret = settings.PAYMENTS_SANDBOX_SECRET
        if not secret:
            # Without a secret every webhook would be refused (or, worse, verified against
            # an empty key): refuse to work at all instead.
            raise ImproperlyConfigured(
                "PAYMENTS_SANDBOX_SECRET is not set: the sandbox payment provider cannot verify "
                "webhooks. Set it, or remove 'sandbox' from PAYMENT_PROVIDERS."
            )
        self._secret = secret.encode()

    def create_checkout(self, purchase: Purchase) -> dict[str, Any]:
        return {"purchase_id": purchase.pk, "provider_ref": purchase.provider_ref}

    def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        expected = hmac.new(self._secret, raw_body, hashlib.sha256).hexdigest()
        given = headers.get("X-Signature", "").strip().lower()
        # Bytes, because compare_digest refuses str with non-ASCII characters, and header
        # values are whatever the sender put there.
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise BadSignature("X-Signature is missing or does not match the body.")
        return _sandbox_event(raw_body)


# Plain ASCII decimals only: Decimal() alone would also take "1_000", " 5 ", "NaN" and other
# scripts' digits.
_AMOUNT = re.compile(r"[0-9]{1,12}(\.[0-9]{1,12})?")
_CURRENCY = re.compile(r"[A-Za-z]{3}")


def _refuse_constant(name: str) -> NoReturn:
    raise MalformedWebhook(f"{name} is not a number.")


def _sandbox_event(raw_body: bytes) -> WebhookEvent:
    """`{"type", "provider_ref", "amount": "<price>", "currency"}`, amounts read exactly;
    `payment.reversed` (amount: what was taken back in all) may name its `reason`."""
    try:
        body = json.loads(raw_body, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise MalformedWebhook("The body is not JSON.") from exc
    if not isinstance(body, dict):
        raise MalformedWebhook("The body is not a JSON object.")
    type_ = body.get("type")
    if not isinstance(type_, str) or not 0 < len(type_) <= _EVENT_TYPE_MAX:
        raise MalformedWebhook("`type` is missing or not valid.")
    provider_ref = body.get("provider_ref")
    if not isinstance(provider_ref, str) or not 0 < len(provider_ref) <= _PROVIDER_REF_MAX:
        raise MalformedWebhook("`provider_ref` is missing or not valid.")
    currency = body.get("currency")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise MalformedWebhook("`currency` is missing or not a three-letter code.")
    reason = body.get("reason", "refund" if type_ == PAYMENT_REVERSED else "")
    if type_ == PAYMENT_REVERSED and reason not in REVERSAL_REASONS:
        raise MalformedWebhook(f"`reason` is one of {', '.join(REVERSAL_REASONS)}.")
    return WebhookEvent(
        type=type_,
        provider_ref=provider_ref,
        amount=_amount(body.get("amount")),
        currency=currency.upper(),
        reason=reason,
    )


def _amount(value: object) -> Decimal:
    # The contract sends a decimal string ("4.99"); a JSON number is read exactly too (floats
    # arrive as Decimal). bool is an int in Python, and never an amount.
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise MalformedWebhook("`amount` is missing or not a decimal string.")
    if not _AMOUNT.fullmatch(str(value)):
        raise MalformedWebhook("`amount` is not a plain decimal number.")
    return Decimal(str(value))


# Every implementation, by name (imported when first used: each brings its provider's
# library). Which of them are in use is the deployer's choice (PAYMENT_PROVIDERS).
_IMPLEMENTATIONS: dict[str, str] = {
    "sandbox": "wallet.purchases.providers.SandboxProvider",
    "stripe": "wallet.purchases.stripe.StripeProvider",
    "appstore": "wallet.purchases.appstore.AppStoreProvider",
    "googleplay": "wallet.purchases.googleplay.GooglePlayProvider",
}


def payment_provider(name: str | None = None) -> PaymentProvider:
    """The enabled provider called `name`, or the first of PAYMENT_PROVIDERS when None.
    Raises UnknownProvider for a name that is not enabled, and ImproperlyConfigured when the
    configuration names no provider, one without an implementation, or one that lacks its
    settings."""
    enabled: list[str] = settings.PAYMENT_PROVIDERS
    if name is None:
        if not enabled:
            raise ImproperlyConfigured("PAYMENT_PROVIDERS is empty: purchases are impossible.")
        name = enabled[0]
    if name not in enabled:
        raise UnknownProvider(name)
    path = _IMPLEMENTATIONS.get(name)
    if path is None:
        raise ImproperlyConfigured(
            f"PAYMENT_PROVIDERS names {name!r}, which has no implementation "
            f"(known: {', '.join(sorted(_IMPLEMENTATIONS))})."
        )
    implementation: type[PaymentProvider] = import_string(path)
    return implementation()
