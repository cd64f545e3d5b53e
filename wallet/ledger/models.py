"""The coin ledger: wallets, and double-entry transactions made of entries that sum to zero.

Balances only change through `wallet.ledger.services.wallet_transfer`; the database backs its rules
with constraints (no negative user balance, one transaction per idempotency key)."""

from django.conf import settings
from django.db import models
from django.db.models import Q


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
    # Coins users owe after a reversed purchase they had already spent: minus the sum of
    # every user wallet's `owed`.
    RECEIVABLES = "receivables", "Receivables"


# Wallets whose balance is the negative of what they issued.
ISSUING_KINDS = [WalletKind.PAYMENT_CLEARING, WalletKind.ADJUSTMENTS, WalletKind.RECEIVABLES]


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
    WalletKind.RECEIVABLES,
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
    # User wallets: coins of reversed purchases that were spent before the reversal and not
    # yet settled. While above zero the user may not spend or withdraw (account_restricted).
    owed = models.BigIntegerField(default=0, db_default=0)
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
            models.CheckConstraint(
                condition=Q(owed=0) | Q(kind=WalletKind.USER, owed__gt=0),
                name="wallet_owed_by_users_only",
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
    # A refund, revocation or chargeback taking a purchase's coins back.
    PURCHASE_REVERSAL = "purchase_reversal"
    # Coins of a new purchase (or a staff write-off) settling what a user owes.
    DEBT_SETTLEMENT = "debt_settlement"


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
    PURCHASE_REVERSAL = "purchase_reversal"
    # A host's earnings from coins whose purchase was reversed within the settlement window,
    # taken back. Shown to clients as `purchase_reversal` (wallet.ledger.serializers).
    EARNING_CLAWBACK = "earning_clawback"
    # Only on system wallets:
    PLATFORM_FEE = "platform_fee"
    PAYMENT = "payment"
    WITHDRAWAL_PAYOUT = "withdrawal_payout"
    # What users owe (the receivables wallets): minus when a debt arises, plus when settled.
    RECEIVABLE = "receivable"


# What a host earned: her share of the calls and gifts spent on her.
EARNING_ENTRY_TYPES = [EntryType.CALL_EARNING, EntryType.GIFT_RECEIVED]
# Coins a host cashed out or holds for a withdrawal, net of the withdrawals that came back.
CASH_OUT_ENTRY_TYPES = [EntryType.WITHDRAWAL, EntryType.WITHDRAWAL_REFUND]
# Entries that take earnings back from a host (a refund or chargeback of what paid for
# them): they count against what she may withdraw (docs/withdrawals.md, Withdrawable).
EARNING_CLAWBACK_ENTRY_TYPES = [EntryType.EARNING_CLAWBACK]
# Everything `wallet_withdrawable` reads (wallet.ledger.selectors).
WITHDRAWABLE_ENTRY_TYPES = [
    *EARNING_ENTRY_TYPES,
    *CASH_OUT_ENTRY_TYPES,
    *EARNING_CLAWBACK_ENTRY_TYPES,
]

USER_ENTRY_TYPES = [
    EntryType.PURCHASE,
    EntryType.CALL_CHARGE,
    EntryType.CALL_EARNING,
    EntryType.GIFT_SENT,
    EntryType.GIFT_RECEIVED,
    EntryType.WITHDRAWAL,
    EntryType.WITHDRAWAL_REFUND,
    EntryType.ADJUSTMENT,
    EntryType.PURCHASE_REVERSAL,
]
# Entry types of user wallets kept apart inside (for what a host may withdraw) that the
# contract names as another: a host's clawed-back earnings are her side of a reversal.
CONTRACT_NAME_OF = {EntryType.EARNING_CLAWBACK: EntryType.PURCHASE_REVERSAL}


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
        indexes = [
            models.Index(fields=["wallet", "-id"], name="entry_wallet_history"),
            # The finance dashboard: each series sums one entry type per day over a range,
            # read from the index alone (adminpanel/finance/dashboard.py).
            models.Index(
                fields=["type", "created_at"],
                include=["amount", "wallet", "transaction"],
                name="entry_type_created",
            ),
            # What a host may withdraw sums these entries of her wallet from the index alone
            # (wallet.ledger.selectors.wallet_withdrawable); spending and purchases stay out.
            models.Index(
                fields=["wallet", "type", "created_at"],
                include=["amount"],
                condition=Q(type__in=WITHDRAWABLE_ENTRY_TYPES),
                name="entry_wallet_withdrawable",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount:+d} to wallet {self.wallet_id}"
