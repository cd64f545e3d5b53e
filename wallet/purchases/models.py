"""Buying coins: the packages on sale, the purchases, and every webhook delivery of the payment
providers (docs/payments.md)."""

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from wallet.ledger.models import Transaction


class CoinPackage(models.Model):
    """What a user can buy: `coins` for `price` in `currency`, managed in the admin."""

    coins = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    price = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(
        max_length=3,
        default="USD",
        validators=[RegexValidator(r"^[A-Z]{3}$", "Use a three-letter ISO 4217 code.")],
        help_text="ISO 4217 code, e.g. USD",
    )
    # The product id of this package in the App Store and Google Play (the same in both):
    # a store purchase of that product credits this package's coins.
    product_id = models.CharField(max_length=100, blank=True)
    is_active = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0, help_text="Lower comes first.")

    class Meta:
        ordering = ["position", "coins", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(coins__gte=1), name="package_coins_positive"),
            models.CheckConstraint(condition=Q(price__gt=0), name="package_price_positive"),
            models.UniqueConstraint(
                fields=["product_id"], condition=~Q(product_id=""), name="package_product_id_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.coins} coins for {self.price} {self.currency}"


class Purchase(models.Model):
    """A user buying a coin package through a payment provider; credited once, on the
    provider's signed confirmation (or a verified store transaction), and reversed when the
    provider refunds, revokes or charges it back."""

    class Status(models.TextChoices):
        PENDING = "pending"
        CREDITED = "credited"
        FAILED = "failed"
        # Refunded, revoked or charged back, wholly or in part (`reversed_coins`).
        REVERSED = "reversed"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="purchases"
    )
    package = models.ForeignKey(CoinPackage, on_delete=models.PROTECT, related_name="purchases")
    # What was sold, as it was when sold: staff may edit the package later.
    coins = models.PositiveIntegerField()
    price = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3)
    provider = models.CharField(max_length=30)
    # Ours for checkout providers (sandbox, stripe); the store's own id for store purchases
    # (App Store transactionId, Google Play orderId): one purchase per reference.
    provider_ref = models.CharField(max_length=100)
    # The provider's id of the payment where it differs from provider_ref (Stripe's payment
    # intent, Google Play's purchase token), for events that name only that.
    external_id = models.CharField(max_length=300, blank=True, db_index=True)
    # The client's Idempotency-Key header: the same key from the same user is the same purchase.
    idempotency_key = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    credit = models.OneToOneField(
        Transaction, null=True, blank=True, on_delete=models.PROTECT, related_name="purchase"
    )
    # Coins taken back so far by refunds, revocations and chargebacks (purchase_reversal).
    reversed_coins = models.PositiveIntegerField(default=0)
    reversal_reason = models.CharField(max_length=20, blank=True)
    reversed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_ref"], name="purchase_provider_ref_once"
            ),
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="purchase_idempotency_key_once",
            ),
        ]

    def __str__(self) -> str:
        return f"Purchase {self.pk}: {self.coins} coins by user {self.user_id} ({self.status})"


class PaymentEvent(models.Model):
    """Every webhook delivery, kept for finance and support: what came, and what it did."""

    class Outcome(models.TextChoices):
        CREDITED = "credited"
        REVERSED = "reversed"
        DUPLICATE = "duplicate"
        MARKED_FAILED = "marked_failed"
        BAD_SIGNATURE = "bad_signature"
        MALFORMED = "malformed"
        UNKNOWN_REFERENCE = "unknown_reference"
        AMOUNT_MISMATCH = "amount_mismatch"
        IGNORED = "ignored"

    provider = models.CharField(max_length=30)
    event_type = models.CharField(max_length=60, blank=True)
    provider_ref = models.CharField(max_length=100, blank=True, db_index=True)
    purchase = models.ForeignKey(
        Purchase, null=True, blank=True, on_delete=models.PROTECT, related_name="events"
    )
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    body = models.TextField(help_text="The raw body as received (truncated to 10 kB).")
    body_sha256 = models.CharField(
        max_length=64, blank=True, help_text="Hex SHA-256 of the whole raw body."
    )
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # Deliveries that failed verification can come from anyone: each distinct body is
            # kept once per outcome (rows from before the hash existed have none).
            models.UniqueConstraint(
                fields=["provider", "outcome", "body_sha256"],
                condition=Q(outcome__in=["bad_signature", "malformed"]) & ~Q(body_sha256=""),
                name="payment_event_refused_body_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_type or '?'} -> {self.outcome}"
