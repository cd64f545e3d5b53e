"""Calls: who called whom, how it went, and what it cost. Coins move only through
wallet.ledger.services; a call keeps the figures of its billing (periods and coins)."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class CallStatus(models.TextChoices):
    RINGING = "ringing"
    ACTIVE = "active"
    ENDED = "ended"
    REJECTED = "rejected"
    MISSED = "missed"
    FAILED = "failed"


OPEN_STATUSES = [CallStatus.RINGING, CallStatus.ACTIVE]


class EndReason(models.TextChoices):
    HANGUP = "hangup"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    DISCONNECTED = "disconnected"
    TIMEOUT = "timeout"
    BANNED = "banned"


class Call(models.Model):
    caller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="calls_made"
    )
    callee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="calls_received"
    )
    status = models.CharField(max_length=10, choices=CallStatus.choices, default="ringing")
    # The callee's rate and the host share when the call was placed: later edits of the
    # profile or the setting do not change a call in progress.
    rate_per_minute = models.PositiveIntegerField()
    host_share_percent = models.PositiveSmallIntegerField()
    # Length of one billed period in seconds (CALL_BILLING_PERIOD_SECONDS at accept).
    billing_period_seconds = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, choices=EndReason.choices, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # Billing: periods charged so far (period n starts at started_at + (n-1) * period),
    # what they cost the caller, and when the next one is due (null unless active).
    periods_charged = models.PositiveIntegerField(default=0)
    total_coins = models.PositiveIntegerField(default=0)
    next_charge_at = models.DateTimeField(null=True, blank=True)
    # The last period for which the caller was warned that money runs out.
    low_balance_warned_period = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(caller=F("callee")), name="call_not_self"),
            # A period always moves coins (a transfer of zero is not one).
            models.CheckConstraint(condition=Q(rate_per_minute__gte=1), name="call_rate_positive"),
            # A user is in at most one ringing or active call on each side; the service
            # checks both sides together under row locks.
            models.UniqueConstraint(
                fields=["caller"],
                condition=Q(status__in=["ringing", "active"]),
                name="call_one_open_per_caller",
            ),
            models.UniqueConstraint(
                fields=["callee"],
                condition=Q(status__in=["ringing", "active"]),
                name="call_one_open_per_callee",
            ),
        ]
        indexes = [
            # The billing tick: active calls whose next period is due, walked in
            # (next_charge_at, id) order a batch at a time; with id in the index each batch
            # starts where the last one stopped, even among calls due at the same instant.
            models.Index(
                fields=["next_charge_at", "id"],
                condition=Q(status="active"),
                name="call_billing_due",
            ),
            # The finance export of calls, read a range of days in (created_at, id) order.
            models.Index(fields=["created_at"], name="call_created"),
            # Ringing calls that time out.
            models.Index(
                fields=["created_at"], condition=Q(status="ringing"), name="call_ringing_since"
            ),
        ]

    def __str__(self) -> str:
        return f"Call {self.pk}: {self.caller_id} -> {self.callee_id} ({self.status})"

    @property
    def duration_seconds(self) -> int:
        """Seconds talked: from accept to the end (or to now while active)."""
        if self.started_at is None:
            return 0
        until = self.ended_at or timezone.now()
        return max(0, int((until - self.started_at).total_seconds()))
