"""Hosts cashing out coins (docs/withdrawals.md)."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from wallet.ledger.models import Transaction, Wallet


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
    # The first of the two approvals a large withdrawal needs; `reviewed_by` gives the second.
    first_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="withdrawals_first_approved",
    )
    first_approved_at = models.DateTimeField(null=True, blank=True)
    auto_approved = models.BooleanField(default=False)
    # Why beat's auto-review approved it, or left it for staff; empty until it looked.
    review_note = models.CharField(max_length=200, blank=True)
    rejection_reason = models.CharField(max_length=200, blank=True)
    # The money paid for the coins, fixed when approved (PAYOUT_COIN_RATES).
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
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
