"""Bodies of the payouts endpoints (API.md, Wallet)."""

from typing import Any

from rest_framework import serializers

from wallet.payouts.models import PayoutAccount
from wallet.payouts.services import STATUS_NONE
from wallet.purchases.models import PaymentEvent

Outcome = PaymentEvent.Outcome


class PayoutOnboardingSerializer(serializers.Serializer[dict[str, Any]]):
    url = serializers.URLField(
        help_text="Stripe's onboarding page for the host's payout account. Open it at once: it "
        "works once and expires within minutes (ask for a new one instead)."
    )


class PayoutAccountSerializer(serializers.Serializer[dict[str, Any]]):
    status = serializers.ChoiceField(
        choices=[STATUS_NONE, *PayoutAccount.Status.values],
        help_text="`none`: onboarding never started; `pending`: not finished, or Stripe does "
        "not pay out to the account yet; `enabled`: withdrawals may be requested.",
    )


class PayoutWebhookResultSerializer(serializers.Serializer[dict[str, Any]]):
    status = serializers.ChoiceField(
        choices=[Outcome.REVERSED, Outcome.DUPLICATE, Outcome.UNKNOWN_REFERENCE, Outcome.IGNORED],
        help_text="What the delivery did: `reversed` (a withdrawal refunded), `duplicate` "
        "(refunded before), `unknown_reference` (no account or withdrawal of ours) or "
        "`ignored` (nothing to do with coins: an `account.updated`, a partial reversal, "
        "another event type).",
    )
