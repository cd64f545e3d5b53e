"""Buying coins (flow and decisions: docs/payments.md). A checkout purchase is started by
the client and credited once, when its provider confirms the payment with a signed webhook; a
store purchase (App Store, Google Play) is made in the app and credited once when the app
sends the store's proof and the store confirms it. Refunds, revocations and chargebacks
arrive by webhook and take the coins back (wallet.purchases.reversals).

Why a purchase credits exactly once:
- The webhook locks the purchase row (SELECT ... FOR UPDATE) and credits, marks it credited
  and records the delivery in one transaction: a second delivery, sequential or concurrent,
  waits for the lock and then finds the purchase credited. A store transaction is one row
  per (provider, store id), locked the same way.
- Behind that, the credit's ledger idempotency key is `purchase:<id>`, so even code that
  skipped the lock could not move the coins twice.
"""

import hashlib
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction

from accounts.models import User
from videochat.errors import (
    IdempotencyMismatch,
    InvalidReceipt,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
)
from videochat.ratelimit import rate_limit_hit
from wallet.ledger.debts import debt_settle_from_purchase, receivables_wallet_id, wallets_lock
from wallet.ledger.models import EntryType, TransactionKind, WalletKind
from wallet.ledger.services import Leg, system_wallet_id, wallet_ensure, wallet_transfer
from wallet.purchases.models import CoinPackage, PaymentEvent, Purchase
from wallet.purchases.providers import (
    PAYMENT_FAILED,
    PAYMENT_REVERSED,
    PAYMENT_SUCCEEDED,
    BadSignature,
    MalformedWebhook,
    PaymentProvider,
    ReceiptRejected,
    StoreProvider,
    StoreTransaction,
    UnknownProvider,
    WebhookEvent,
    payment_provider,
)
from wallet.purchases.reversals import purchase_reverse

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
    if isinstance(provider, StoreProvider):
        raise ValidationFailed(
            "Store purchases are made in the app.",
            details={
                "provider": [f"Buy in the app, then POST /api/v1/wallet/purchases/{provider.name}."]
            },
        )
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


@dataclass(frozen=True)
class StorePurchaseCredited:
    purchase: Purchase
    # True when this store transaction had been sent before: nothing was credited now.
    replayed: bool


def purchase_store_credit(
    *, user: User, provider_name: str, proof: Mapping[str, Any]
) -> StorePurchaseCredited:
    """Verify a purchase the app made in a store (`proof`: what the app sent) and credit its
    coin package once per store transaction. The same transaction sent again answers the
    same purchase and credits nothing (once the store refunded it, the store's own
    verification may refuse it instead: InvalidReceipt); sent by another account it is
    InvalidReceipt. Then the store is told it was delivered (after commit, and
    again on every replay, so a lost acknowledgement is retried). Raises NotFound when the
    store is not enabled, InvalidReceipt when the proof fails verification or names a
    product that no coin package sells, ServiceUnavailable when the store can't be asked."""
    try:
        provider = _provider(provider_name)
    except UnknownProvider as exc:
        raise NotFound(f"Purchases through {provider_name} are not enabled.") from exc
    assert isinstance(provider, StoreProvider), f"{provider_name} is not a store"
    try:
        verified = provider.verify(proof)
    except ReceiptRejected as exc:
        logger.warning("A %s receipt of user %s was refused: %s", provider.name, user.pk, exc)
        raise InvalidReceipt(
            "The store transaction could not be verified.", details={"receipt": [str(exc)]}
        ) from exc
    package = CoinPackage.objects.filter(product_id=verified.product_id).first()
    if package is None:
        # The store took the money for a product we don't sell: finance must see it.
        logger.error(
            "%s transaction %s is for product %r, which no coin package sells",
            provider.name,
            verified.provider_ref,
            verified.product_id,
        )
        raise InvalidReceipt(
            "This product is not sold here.",
            details={"product_id": [f"No coin package sells {verified.product_id!r}."]},
        )
    try:
        credited = _store_purchase_credit(user, provider, verified, package)
    except IntegrityError:
        # A concurrent request inserted the same store transaction first (the unique
        # constraint made us wait for its commit): answer as a replay.
        credited = _store_purchase_credit(user, provider, verified, package)
    try:
        provider.after_credit(verified)
    except Exception:
        logger.exception(
            "%s: telling the store that %s was delivered failed; a replay retries",
            provider.name,
            verified.provider_ref,
        )
    return credited


def _store_purchase_credit(
    user: User, provider: StoreProvider, verified: StoreTransaction, package: CoinPackage
) -> StorePurchaseCredited:
    with transaction.atomic():
        earlier = (
            Purchase.objects.select_for_update()
            .filter(provider=provider.name, provider_ref=verified.provider_ref)
            .first()
        )
        if earlier is not None:
            if earlier.user_id != user.pk:
                logger.warning(
                    "User %s sent %s transaction %s, credited to user %s",
                    user.pk,
                    provider.name,
                    verified.provider_ref,
                    earlier.user_id,
                )
                raise InvalidReceipt(
                    "This store transaction belongs to another account.",
                    details={"receipt": ["Credited to another account."]},
                )
            return StorePurchaseCredited(earlier, replayed=True)
        purchase = Purchase.objects.create(
            user=user,
            package=package,
            coins=package.coins,
            price=verified.price if verified.price is not None else package.price,
            currency=verified.currency or package.currency,
            provider=provider.name,
            provider_ref=verified.provider_ref,
            external_id=verified.external_id,
        )
        _purchase_credit(purchase, metadata=verified.metadata)
    return StorePurchaseCredited(purchase, replayed=False)


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
    event = payment_webhook_verified(provider, raw_body=raw_body, headers=headers, client=client)
    with transaction.atomic():
        purchase = _purchase_of_event(provider, event)
        if event.type not in (PAYMENT_SUCCEEDED, PAYMENT_FAILED, PAYMENT_REVERSED):
            outcome = Outcome.IGNORED
        elif purchase is None:
            logger.warning(
                "Payment webhook from %s for unknown reference %r / %r",
                provider.name,
                event.provider_ref,
                event.external_id,
            )
            outcome = Outcome.UNKNOWN_REFERENCE
        elif event.type == PAYMENT_SUCCEEDED:
            outcome = _payment_succeeded(purchase, event)
        elif event.type == PAYMENT_FAILED:
            outcome = _payment_failed(purchase)
        else:
            outcome = _payment_reversed(provider, purchase, event)
        # In the same transaction as the change it describes: a "credited" event exists
        # exactly when the coins moved.
        return payment_event_record(provider, raw_body, outcome, event=event, purchase=purchase)


def payment_webhook_verified(
    provider: PaymentProvider, *, raw_body: bytes, headers: Mapping[str, str], client: str
) -> WebhookEvent:
    """The provider's verified event of one delivery. A delivery that fails verification is
    counted against `client` (RateLimited over PAYMENT_WEBHOOK_REFUSED_RATE: then neither
    recorded nor logged), recorded once per distinct body, logged, and raised as
    ValidationFailed; nothing else changes. For every webhook of an outside provider."""
    try:
        return provider.parse_webhook(raw_body, headers)
    except BadSignature as exc:
        _refused(provider, raw_body, Outcome.BAD_SIGNATURE, client)
        logger.warning("Webhook from %s refused: %s", provider.name, exc)
        raise ValidationFailed(
            "The webhook signature is not valid.",
            details={provider.signature_field: [str(exc)]},
        ) from exc
    except MalformedWebhook as exc:
        _refused(provider, raw_body, Outcome.MALFORMED, client)
        logger.warning("Malformed webhook from %s: %s", provider.name, exc)
        raise ValidationFailed(
            "The webhook body is not a valid event.", details={"body": [str(exc)]}
        ) from exc


def _purchase_of_event(provider: PaymentProvider, event: WebhookEvent) -> Purchase | None:
    """The purchase the event is about, locked: by our reference, else by the provider's id
    of the payment."""
    purchases = Purchase.objects.select_for_update().filter(provider=provider.name)
    if event.provider_ref:
        return purchases.filter(provider_ref=event.provider_ref).first()
    if event.external_id:
        return purchases.filter(external_id=event.external_id).first()
    return None


def _payment_succeeded(purchase: Purchase, event: WebhookEvent) -> PaymentEvent.Outcome:
    """Credit a locked purchase. A failed purchase is credited too: providers report a
    declined attempt and then a successful retry under the same reference (in either order),
    and a signed success means the money was taken."""
    if purchase.status in (Purchase.Status.CREDITED, Purchase.Status.REVERSED):
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
    if event.external_id and not purchase.external_id:
        purchase.external_id = event.external_id
    _purchase_credit(purchase, metadata=event.metadata)
    return Outcome.CREDITED


def _purchase_credit(purchase: Purchase, *, metadata: dict[str, Any]) -> None:
    """Credit the (locked, not yet credited) purchase's coins, mark it credited, and pay
    what the buyer owes from them first (wallet.ledger.debts)."""
    key = f"purchase:{purchase.pk}"
    user_wallet = wallet_ensure(user_id=purchase.user_id)
    clearing = system_wallet_id(kind=WalletKind.PAYMENT_CLEARING, key=key)
    # Every wallet the credit and a settlement may move, locked first in primary-key order.
    receivables = receivables_wallet_id(user_id=purchase.user_id)
    locked = wallets_lock({user_wallet, clearing, receivables})
    credit = wallet_transfer(
        kind=TransactionKind.PURCHASE,
        idempotency_key=key,
        reference=key,
        metadata={"provider": purchase.provider, "provider_ref": purchase.provider_ref, **metadata},
        legs=[
            Leg(clearing, -purchase.coins, EntryType.PAYMENT),
            Leg(user_wallet, purchase.coins, EntryType.PURCHASE),
        ],
    )
    purchase.status = Purchase.Status.CREDITED
    purchase.credit = credit.transaction
    purchase.save(update_fields=["status", "credit", "external_id", "updated_at"])
    # What it owes is as locked above: only debts and their settlement change it, under the
    # same lock.
    debt_settle_from_purchase(
        user_id=purchase.user_id, wallet=locked[user_wallet], coins=purchase.coins, key=key
    )


def _payment_reversed(
    provider: PaymentProvider, purchase: Purchase, event: WebhookEvent
) -> PaymentEvent.Outcome:
    """Take back the coins of the (locked) purchase that the provider refunded, revoked or
    charged back: all of them for a store's refund (`whole`), else in the proportion of the
    price taken back so far (partial refunds, then the rest, take only the difference)."""
    if purchase.status not in (Purchase.Status.CREDITED, Purchase.Status.REVERSED):
        # Never credited: there is nothing to take back.
        logger.warning(
            "%s reversed purchase %s, which was never credited (%s)",
            provider.name,
            purchase.pk,
            purchase.status,
        )
        return Outcome.IGNORED
    if event.metadata.get("whole"):
        coins = purchase.coins
    elif event.currency and event.currency != purchase.currency:
        logger.error(
            "%s reversed %s %s of purchase %s, sold in %s: not taken back",
            provider.name,
            event.amount,
            event.currency,
            purchase.pk,
            purchase.currency,
        )
        return Outcome.AMOUNT_MISMATCH
    else:
        share = Decimal(purchase.coins) * event.amount / purchase.price
        coins = int(share.to_integral_value(rounding=ROUND_FLOOR))
    reversed_now = purchase_reverse(
        purchase=purchase,
        coins=coins,
        reason=event.reason or "refund",
        source=f"{provider.name} {event.type}",
    )
    return Outcome.REVERSED if reversed_now else Outcome.DUPLICATE


def _payment_failed(purchase: Purchase) -> PaymentEvent.Outcome:
    """Mark a locked pending purchase failed. After a success the money is in: a late
    report of an earlier declined attempt changes nothing."""
    if purchase.status == Purchase.Status.FAILED:
        return Outcome.DUPLICATE
    if purchase.status in (Purchase.Status.CREDITED, Purchase.Status.REVERSED):
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


def payment_event_record(
    provider: PaymentProvider,
    raw_body: bytes,
    outcome: PaymentEvent.Outcome,
    *,
    event: WebhookEvent | None = None,
    purchase: Purchase | None = None,
) -> PaymentEvent:
    """Keep one verified delivery and what it did (`outcome`), in the transaction of the
    change it describes."""
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
