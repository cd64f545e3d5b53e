"""Buying coins: a purchase is started by the client and credited once, when its provider
confirms the payment with a signed webhook (flow and decisions: docs/payments.md).

Why a purchase credits exactly once:
- The webhook locks the purchase row (SELECT ... FOR UPDATE) and credits, marks it succeeded
  and records the delivery in one transaction: a second delivery, sequential or concurrent,
  waits for the lock and then finds the purchase succeeded.
- Behind that, the credit's ledger idempotency key is `purchase:<id>`, so even code that
  skipped the lock could not move the coins twice.
"""

import hashlib
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction

from accounts.models import User
from videochat.errors import (
    IdempotencyMismatch,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
)
from videochat.ratelimit import rate_limit_hit
from wallet.ledger.models import EntryType, TransactionKind, WalletKind
from wallet.ledger.services import Leg, system_wallet_id, wallet_ensure, wallet_transfer
from wallet.purchases.models import CoinPackage, PaymentEvent, Purchase
from wallet.purchases.providers import (
    PAYMENT_FAILED,
    PAYMENT_SUCCEEDED,
    BadSignature,
    MalformedWebhook,
    PaymentProvider,
    UnknownProvider,
    WebhookEvent,
    payment_provider,
)

logger = logging.getLogger(__name__)

Outcome = PaymentEvent.Outcome

# How much of a delivery's body is kept for support (PaymentEvent.body).
EVENT_BODY_KEPT_BYTES = 10_000


@dataclass(frozen=True)
class PurchaseStarted:
    purchase: Purchase
    # What the client opens to pay (the provider's checkout).
    checkout: dict[str, Any]
    # True when the Idempotency-Key had started this purchase before: nothing was created.
    replayed: bool


def _provider(name: str | None) -> PaymentProvider:
    """The provider (UnknownProvider passes through: its answer depends on the endpoint), with
    configuration errors turned into a 503 that the operator reads about in the log: the
    client cannot fix them."""
    try:
        return payment_provider(name)
    except ImproperlyConfigured as exc:
        logger.error("Payments are misconfigured: %s", exc)
        raise ServiceUnavailable("Payments are not available right now.") from exc


def purchase_create(
    *, user: User, package_id: int, provider_name: str | None = None, idempotency_key: str = ""
) -> PurchaseStarted:
    """Start buying an active coin package (pending until the provider confirms). With an
    `idempotency_key`, the same user sending the same request again gets the same purchase;
    the same key for another package or provider is IdempotencyMismatch."""
    try:
        provider = _provider(provider_name)
    except UnknownProvider as exc:
        raise ValidationFailed(
            "Unknown payment provider.", details={"provider": ["No such payment provider."]}
        ) from exc
    if idempotency_key:
        earlier = _purchase_of_key(user, idempotency_key)
        if earlier is not None:
            return _replay(earlier, package_id, provider)
    package = CoinPackage.objects.filter(pk=package_id, is_active=True).first()
    if package is None:
        raise ValidationFailed(
            "No such coin package.",
            details={"package_id": ["No active coin package has this id."]},
        )
    try:
        with transaction.atomic():
            purchase = Purchase.objects.create(
                user=user,
                package=package,
                coins=package.coins,
                price=package.price,
                currency=package.currency,
                provider=provider.name,
                # Ours, minted before any provider call: the row is complete from its first
                # insert, and the provider carries it back in its webhooks (docs/payments.md).
                provider_ref=f"{provider.name}_{secrets.token_hex(12)}",
                idempotency_key=idempotency_key,
            )
    except IntegrityError:
        # A concurrent request with the same key inserted first (the unique constraint
        # decides, and made us wait until it committed): answer with its purchase.
        earlier = _purchase_of_key(user, idempotency_key) if idempotency_key else None
        if earlier is None:
            raise
        return _replay(earlier, package_id, provider)
    return PurchaseStarted(purchase, provider.create_checkout(purchase), replayed=False)


def _purchase_of_key(user: User, idempotency_key: str) -> Purchase | None:
    return Purchase.objects.filter(user=user, idempotency_key=idempotency_key).first()


def _replay(earlier: Purchase, package_id: int, provider: PaymentProvider) -> PurchaseStarted:
    if earlier.package_id != package_id or earlier.provider != provider.name:
        raise IdempotencyMismatch(
            "This Idempotency-Key was used for a different purchase.",
            details={"idempotency_key": earlier.idempotency_key},
        )
    return PurchaseStarted(earlier, provider.create_checkout(earlier), replayed=True)


def payment_webhook_receive(
    *, provider_name: str, raw_body: bytes, headers: Mapping[str, str], client: str
) -> PaymentEvent:
    """Verify one webhook delivery, act on it, and record it (with what it did). Raises
    NotFound for a provider that is not enabled, and ValidationFailed (after recording and
    logging it) for a bad signature or a malformed body; nothing else changes then.
    Deliveries that are valid but change nothing (duplicates, unknown references,
    mismatched amounts, other event types) are answered normally: providers retry anything
    else, and retrying would not help.

    Refused deliveries can come from anyone: they are counted per `client` address (over
    PAYMENT_WEBHOOK_REFUSED_RATE they raise RateLimited and are neither recorded nor
    logged) and recorded once per distinct body. Valid ones are never counted."""
    try:
        provider = _provider(provider_name)
    except UnknownProvider as exc:
        raise NotFound(f"No payment provider is called {provider_name!r}.") from exc
    try:
        event = provider.parse_webhook(raw_body, headers)
    except BadSignature as exc:
        _refused(provider, raw_body, Outcome.BAD_SIGNATURE, client)
        logger.warning("Payment webhook from %s refused: %s", provider.name, exc)
        raise ValidationFailed(
            "The webhook signature is not valid.", details={"X-Signature": [str(exc)]}
        ) from exc
    except MalformedWebhook as exc:
        _refused(provider, raw_body, Outcome.MALFORMED, client)
        logger.warning("Malformed payment webhook from %s: %s", provider.name, exc)
        raise ValidationFailed(
            "The webhook body is not a valid event.", details={"body": [str(exc)]}
        ) from exc
    with transaction.atomic():
        purchase = (
            Purchase.objects.select_for_update()
            .filter(provider=provider.name, provider_ref=event.provider_ref)
            .first()
        )
        if purchase is None:
            logger.warning(
                "Payment webhook from %s for unknown reference %r",
                provider.name,
                event.provider_ref,
            )
            outcome = Outcome.UNKNOWN_REFERENCE
        elif event.type == PAYMENT_SUCCEEDED:
            outcome = _payment_succeeded(purchase, event)
        elif event.type == PAYMENT_FAILED:
            outcome = _payment_failed(purchase)
        else:
            outcome = Outcome.IGNORED
        # In the same transaction as the change it describes: a "credited" event exists
        # exactly when the coins moved.
        return _record(provider, raw_body, outcome, event=event, purchase=purchase)


def _payment_succeeded(purchase: Purchase, event: WebhookEvent) -> PaymentEvent.Outcome:
    """Credit a locked purchase. A failed purchase is credited too: providers report a
    declined attempt and then a successful retry under the same reference (in either order),
    and a signed success means the money was taken."""
    if purchase.status == Purchase.Status.CREDITED:
        return Outcome.DUPLICATE
    if event.amount != purchase.price or event.currency != purchase.currency:
        # Money arrived, but not what was sold: never credit a guess. The purchase keeps its
        # status and finance settles it by hand (refund or adjustment) from the event.
        logger.error(
            "Payment for purchase %s paid %s %s, expected %s %s: not credited",
            purchase.pk,
            event.amount,
            event.currency,
            purchase.price,
            purchase.currency,
        )
        return Outcome.AMOUNT_MISMATCH
    key = f"purchase:{purchase.pk}"
    credit = wallet_transfer(
        kind=TransactionKind.PURCHASE,
        idempotency_key=key,
        reference=key,
        metadata={"provider": purchase.provider, "provider_ref": purchase.provider_ref},
        legs=[
            Leg(
                system_wallet_id(kind=WalletKind.PAYMENT_CLEARING, key=key),
                -purchase.coins,
                EntryType.PAYMENT,
            ),
            Leg(wallet_ensure(user_id=purchase.user_id), purchase.coins, EntryType.PURCHASE),
        ],
    )
    purchase.status = Purchase.Status.CREDITED
    purchase.credit = credit.transaction
    purchase.save(update_fields=["status", "credit", "updated_at"])
    return Outcome.CREDITED


def _payment_failed(purchase: Purchase) -> PaymentEvent.Outcome:
    """Mark a locked pending purchase failed. After a success the money is in: a late
    report of an earlier declined attempt changes nothing."""
    if purchase.status == Purchase.Status.FAILED:
        return Outcome.DUPLICATE
    if purchase.status == Purchase.Status.CREDITED:
        return Outcome.IGNORED
    purchase.status = Purchase.Status.FAILED
    purchase.save(update_fields=["status", "updated_at"])
    return Outcome.MARKED_FAILED


def _refused(
    provider: PaymentProvider, raw_body: bytes, outcome: PaymentEvent.Outcome, client: str
) -> None:
    """Count a delivery that failed verification against its client address (RateLimited
    over the limit), then record it unless the same body was refused the same way before."""
    limit, window = settings.PAYMENT_WEBHOOK_REFUSED_RATE
    rate_limit_hit(
        key=f"payments:webhook:refused:{provider.name}:{client}",
        limit=limit,
        window=window,
        message="Too many webhook deliveries failed verification; slow down.",
    )
    # ON CONFLICT DO NOTHING on the unique (provider, outcome, body hash) of refused rows.
    PaymentEvent.objects.bulk_create([_event(provider, raw_body, outcome)], ignore_conflicts=True)


def _record(
    provider: PaymentProvider,
    raw_body: bytes,
    outcome: PaymentEvent.Outcome,
    *,
    event: WebhookEvent | None = None,
    purchase: Purchase | None = None,
) -> PaymentEvent:
    recorded = _event(provider, raw_body, outcome, event=event, purchase=purchase)
    recorded.save()
    return recorded


def _event(
    provider: PaymentProvider,
    raw_body: bytes,
    outcome: PaymentEvent.Outcome,
    *,
    event: WebhookEvent | None = None,
    purchase: Purchase | None = None,
) -> PaymentEvent:
    # PostgreSQL text cannot hold NUL; a cut multi-byte character becomes U+FFFD.
    body = raw_body[:EVENT_BODY_KEPT_BYTES].decode("utf-8", errors="replace")
    return PaymentEvent(
        provider=provider.name,
        event_type=event.type if event else "",
        provider_ref=event.provider_ref if event else "",
        purchase=purchase,
        outcome=outcome,
        body=body.replace("\x00", "\ufffd"),
        body_sha256=hashlib.sha256(raw_body).hexdigest(),
    )
