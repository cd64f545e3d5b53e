"""Payment providers behind one interface (DESIGN.md: outside providers sit behind an interface
with a sandbox implementation that tests use).

A provider does two things: it tells the client how to pay for a purchase (the checkout), and
it turns the provider's signed webhook deliveries into `WebhookEvent`s. Everything else (which
purchase, whether to credit, how often) is decided once, in `wallet.purchases.services`, for every
provider alike. Adding a real provider is described in docs/payments.md.
"""

import hashlib
import hmac
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, NoReturn

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from wallet.purchases.models import PaymentEvent, Purchase

# The event types the purchase services act on; a provider translates its own names into these
# (Stripe's `payment_intent.succeeded` becomes PAYMENT_SUCCEEDED). Other types are recorded
# and ignored.
PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_FAILED = "payment.failed"

# Lengths of the PaymentEvent columns a verified event is stored in.
_EVENT_TYPE_MAX = PaymentEvent._meta.get_field("event_type").max_length or 0
_PROVIDER_REF_MAX = Purchase._meta.get_field("provider_ref").max_length or 0


@dataclass(frozen=True)
class WebhookEvent:
    """One verified webhook delivery, in our words."""

    type: str
    provider_ref: str
    amount: Decimal
    currency: str


class WebhookRejected(Exception):
    """The delivery cannot be trusted or read; the message says why (for logs and the
    provider's error response, never containing the secret)."""


class BadSignature(WebhookRejected):
    pass


class MalformedWebhook(WebhookRejected):
    pass


class UnknownProvider(LookupError):
    """No enabled provider has this name."""


class PaymentProvider(ABC):
    name: ClassVar[str]

    @abstractmethod
    def create_checkout(self, purchase: Purchase) -> dict[str, Any]:
        """What the client needs to pay `purchase` at the provider (JSON-able). Called once
        when the purchase is created and again for every replay of that request, so it must
        be idempotent per purchase: a provider API call passes `purchase.provider_ref` as its
        idempotency key. May raise `videochat.errors.ServiceUnavailable` (the purchase stays
        pending; the client retries with the same Idempotency-Key)."""

    @abstractmethod
    def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verify and read one delivery. `headers` is case-insensitive (Django's
        `request.headers`). Raises BadSignature before looking at the body, MalformedWebhook
        when a verified body is not an event."""


class SandboxProvider(PaymentProvider):
    """The built-in test double (API.md, Configuration): the checkout names the purchase, and
    whoever holds PAYMENTS_SANDBOX_SECRET can confirm it with a signed webhook."""

    name = "sandbox"

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
    """`{"type", "provider_ref", "amount": "<price>", "currency"}`, amounts read exactly."""
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
    return WebhookEvent(
        type=type_,
        provider_ref=provider_ref,
        amount=_amount(body.get("amount")),
        currency=currency.upper(),
    )


def _amount(value: object) -> Decimal:
    # The contract sends a decimal string ("4.99"); a JSON number is read exactly too (floats
    # arrive as Decimal). bool is an int in Python, and never an amount.
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise MalformedWebhook("`amount` is missing or not a decimal string.")
    if not _AMOUNT.fullmatch(str(value)):
        raise MalformedWebhook("`amount` is not a plain decimal number.")
    return Decimal(str(value))


# Every implementation, by name. Which of them are in use is the deployer's choice
# (PAYMENT_PROVIDERS).
_IMPLEMENTATIONS: dict[str, type[PaymentProvider]] = {SandboxProvider.name: SandboxProvider}


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
    implementation = _IMPLEMENTATIONS.get(name)
    if implementation is None:
        raise ImproperlyConfigured(
            f"PAYMENT_PROVIDERS names {name!r}, which has no implementation "
            f"(known: {', '.join(sorted(_IMPLEMENTATIONS))})."
        )
    return implementation()
