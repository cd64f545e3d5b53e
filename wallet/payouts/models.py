"""A host's account at the payout provider, where her withdrawals are paid."""

from django.conf import settings
from django.db import models


class PayoutAccount(models.Model):
    """The host's connected account (Stripe Connect Express). No row: status `none`."""

    class Status(models.TextChoices):
        # Created, onboarding not finished or the provider does not allow payouts yet.
        PENDING = "pending"
        # The provider pays out to it: withdrawals may be requested.
        ENABLED = "enabled"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payout_account"
    )
    provider = models.CharField(max_length=30)
    # The provider's id of the account (Stripe: acct_...).
    account_id = models.CharField(max_length=100, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # The account's payout currency as the provider reports it (ISO 4217, upper case).
    currency = models.CharField(max_length=3, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.provider} account {self.account_id} of user {self.user_id} ({self.status})"
