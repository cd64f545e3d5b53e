from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q


class Gift(models.Model):
    """An item of the gift catalog that staff manage in the admin."""

    name = models.CharField(max_length=60, unique=True)
    icon = models.CharField(max_length=200, help_text="Icon name or URL the apps show.")
    cost_coins = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    is_active = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0, help_text="Lower comes first.")

    class Meta:
        ordering = ["position", "cost_coins", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(cost_coins__gte=1), name="gift_cost_positive")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.cost_coins} coins)"


class GiftSend(models.Model):
    """One gift a user sent (API.md's "gift transaction"). Its coins moved in `transfer`, the
    ledger transaction written in the same database transaction as this row."""

    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="gifts_sent"
    )
    receiver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="gifts_received"
    )
    gift = models.ForeignKey(Gift, on_delete=models.PROTECT, related_name="sends")
    # What was paid and earned, as it was when sent: staff may edit the catalog or the host
    # share later.
    coins_spent = models.PositiveIntegerField()
    receiver_coins = models.PositiveIntegerField()
    # The call both were in, when the gift was sent during one.
    call = models.ForeignKey(
        "calls.Call", null=True, blank=True, on_delete=models.PROTECT, related_name="gifts"
    )
    transfer = models.OneToOneField(
        "wallet.Transaction", on_delete=models.PROTECT, related_name="gift_send"
    )
    # The client's Idempotency-Key (REST) or client_id (socket), "" when it sent none: the
    # same key from the same sender is the same gift.
    idempotency_key = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(sender=F("receiver")), name="gift_send_not_self"),
            models.CheckConstraint(
                condition=Q(coins_spent__gte=1), name="gift_send_coins_positive"
            ),
            models.CheckConstraint(
                condition=Q(receiver_coins__lte=F("coins_spent")),
                name="gift_send_share_within_cost",
            ),
            models.UniqueConstraint(
                fields=["sender", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="gift_send_idempotency_key_once",
            ),
        ]

    def __str__(self) -> str:
        return f"Gift send {self.pk}: {self.gift_id} from {self.sender_id} to {self.receiver_id}"
