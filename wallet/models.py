"""The coin ledger: wallets, and double-entry transactions made of entries that sum to zero.

Balances only change through `wallet.services.wallet_transfer`; the database backs its rules
with constraints (no negative user balance, one transaction per idempotency key)."""

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q


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
    is_active = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0, help_text="Lower comes first.")

    class Meta:
        ordering = ["position", "coins", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(coins__gte=1), name="package_coins_positive"),
            models.CheckConstraint(condition=Q(price__gt=0), name="package_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.coins} coins for {self.price} {self.currency}"


class WalletKind(models.TextChoices):
    USER = "user", "User"
    # The platform's share of every charge.
    PLATFORM_REVENUE = "platform_revenue", "Platform revenue"
    # Where bought coins come from: its balance is minus every coin ever sold.
    PAYMENT_CLEARING = "payment_clearing", "Payment clearing"
    # Coins of withdrawals requested and not yet paid or refunded.
    WITHDRAWAL_HOLD = "withdrawal_hold", "Withdrawal holds"
    # Coins paid out to hosts: they left the platform as money.
    PAYOUTS = "payouts", "Payouts"
    # Coins staff granted (or took back) by hand; below zero when more was granted.
    ADJUSTMENTS = "adjustments", "Staff adjustments"


# Wallets whose balance is the negative of what they issued.
ISSUING_KINDS = [WalletKind.PAYMENT_CLEARING, WalletKind.ADJUSTMENTS]


# Every system wallet exists as this many shards, so that the charges of thousands of calls
# that all credit "platform revenue" lock different rows instead of queueing on one. A
# transfer picks its shard from its idempotency key, so a retry touches the same rows.
SYSTEM_WALLET_SHARDS = 16
# System wallets have fixed primary keys (below SYSTEM_WALLET_MAX_ID, where user wallets'
# ids never start), so services find them without a query or a cache. Append only: the
# position of a kind in this list is part of its wallets' ids.
SYSTEM_KINDS = [
    WalletKind.PLATFORM_REVENUE,
    WalletKind.PAYMENT_CLEARING,
    WalletKind.WITHDRAWAL_HOLD,
    WalletKind.PAYOUTS,
    WalletKind.ADJUSTMENTS,
]
SYSTEM_WALLET_MAX_ID = 1000


def system_wallet_pk(kind: WalletKind, shard: int) -> int:
    return 1 + SYSTEM_KINDS.index(kind) * SYSTEM_WALLET_SHARDS + shard


class Wallet(models.Model):
    kind = models.CharField(max_length=20, choices=WalletKind.choices, default=WalletKind.USER)
    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="wallet",
    )
    shard = models.PositiveSmallIntegerField(default=0)
    balance = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind=WalletKind.USER, owner__isnull=False)
                | (~Q(kind=WalletKind.USER) & Q(owner__isnull=True)),
                name="wallet_owner_iff_user",
            ),
            models.CheckConstraint(
                condition=Q(balance__gte=0) | Q(kind__in=ISSUING_KINDS),
                name="wallet_balance_not_negative",
            ),
            models.UniqueConstraint(
                fields=["kind", "shard"],
                condition=Q(owner__isnull=True),
                name="system_wallet_shard_once",
            ),
        ]

    def __str__(self) -> str:
        if self.kind == WalletKind.USER:
            return f"Wallet of user {self.owner_id}"
        return f"{self.get_kind_display()} #{self.shard}"


class TransactionKind(models.TextChoices):
    PURCHASE = "purchase"
    CALL_CHARGE = "call_charge"
    GIFT = "gift"
    WITHDRAWAL = "withdrawal"
    WITHDRAWAL_REFUND = "withdrawal_refund"
    WITHDRAWAL_PAYOUT = "withdrawal_payout"
    ADJUSTMENT = "adjustment"


class EntryType(models.TextChoices):
    """What one movement means to its wallet; the user-facing ones are API.md's types."""

    PURCHASE = "purchase"
    CALL_CHARGE = "call_charge"
    CALL_EARNING = "call_earning"
    GIFT_SENT = "gift_sent"
    GIFT_RECEIVED = "gift_received"
    WITHDRAWAL = "withdrawal"
    WITHDRAWAL_REFUND = "withdrawal_refund"
    ADJUSTMENT = "adjustment"
    # Only on system wallets:
    PLATFORM_FEE = "platform_fee"
    PAYMENT = "payment"
    WITHDRAWAL_PAYOUT = "withdrawal_payout"


USER_ENTRY_TYPES = [
    EntryType.PURCHASE,
    EntryType.CALL_CHARGE,
    EntryType.CALL_EARNING,
    EntryType.GIFT_SENT,
    EntryType.GIFT_RECEIVED,
    EntryType.WITHDRAWAL,
    EntryType.WITHDRAWAL_REFUND,
    EntryType.ADJUSTMENT,
]


class Transaction(models.Model):
    """One movement of coins between wallets; its entries sum to zero."""

    kind = models.CharField(max_length=20, choices=TransactionKind.choices)
    # Unique: the second attempt of the same operation finds the first instead of moving
    # coins again (a constraint, not a check-then-insert, so concurrent attempts are safe).
    idempotency_key = models.CharField(max_length=200, unique=True)
    # Hash of what the transaction moves, to tell a replay from a different request that
    # reuses a key.
    fingerprint = models.CharField(max_length=64)
    reference = models.CharField(max_length=100, blank=True, db_index=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.reference})"


class Entry(models.Model):
    """One wallet's side of a transaction: a signed amount and the balance it left."""

    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="entries")
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="entries")
    type = models.CharField(max_length=20, choices=EntryType.choices)
    amount = models.BigIntegerField()
    balance_after = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "entries"
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="entry_amount_not_zero"),
            models.UniqueConstraint(fields=["transaction", "wallet"], name="entry_wallet_once"),
        ]
        # A wallet's history, newest first, is read by id (its cursor).
        indexes = [models.Index(fields=["wallet", "-id"], name="entry_wallet_history")]

    def __str__(self) -> str:
        return f"{self.amount:+d} to wallet {self.wallet_id}"


class Purchase(models.Model):
    """A user buying a coin package through a payment provider; credited once, on the
    provider's signed confirmation."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="purchases"
    )
    package = models.ForeignKey(CoinPackage, on_delete=models.PROTECT, related_name="purchases")
    # What was sold, as it was when sold: staff may edit the package later.
    coins = models.PositiveIntegerField()
    price = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3)
    provider = models.CharField(max_length=30)
    provider_ref = models.CharField(max_length=100)
    # The client's Idempotency-Key header: the same key from the same user is the same purchase.
    idempotency_key = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    credit = models.OneToOneField(
        Transaction, null=True, blank=True, on_delete=models.PROTECT, related_name="purchase"
    )
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


class Withdrawal(models.Model):
    """A host cashing out coins: held at once, then approved and paid, or rejected and
    refunded, or approved, failed (the payout gave up) and refunded."""

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        PAID = "paid"
        REJECTED = "rejected"
        FAILED = "failed"
        REFUNDED = "refunded"

    # What blocks a new request. Not `failed`: staff settle it, the host need not wait.
    OPEN_STATUSES = [Status.PENDING, Status.APPROVED]

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="withdrawals"
    )
    coins = models.PositiveIntegerField()
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    # The withdrawal-hold shard that holds the coins; the refund or payout takes them from it.
    hold_wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="+")
    hold = models.OneToOneField(Transaction, on_delete=models.PROTECT, related_name="+")
    settlement = models.OneToOneField(
        Transaction, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="withdrawals_reviewed",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    auto_approved = models.BooleanField(default=False)
    rejection_reason = models.CharField(max_length=200, blank=True)
    payout_ref = models.CharField(max_length=100, blank=True)
    payout_attempts = models.PositiveSmallIntegerField(default=0)
    payout_error = models.CharField(max_length=300, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    # When the payout sweep gave up (status `failed`).
    failed_at = models.DateTimeField(null=True, blank=True)
    refunded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="withdrawals_refunded",
    )
    refunded_at = models.DateTimeField(null=True, blank=True)
    refund_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(coins__gte=1), name="withdrawal_coins_positive"),
            # One open request per host, enforced where races cannot slip past it.
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(status__in=["pending", "approved"]),
                name="withdrawal_one_open_per_user",
            ),
        ]

    def __str__(self) -> str:
        return f"Withdrawal {self.pk}: {self.coins} coins of user {self.user_id} ({self.status})"
