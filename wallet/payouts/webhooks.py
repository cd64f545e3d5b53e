"""Stripe Connect's webhook (POST /api/v1/payouts/webhook/stripe; docs/withdrawals.md):
events about hosts' connected accounts and the money sent to them.

- `account.updated`: the account's payout status and currency (wallet.payouts.services), as
  Stripe has it now: events may arrive out of order, so the account is fetched rather than
  an older event's snapshot applied over a newer one.
- `transfer.reversed`: the platform took a withdrawal's transfer back in full, so the money
  never reaches the host: the withdrawal is `failed`, then `refunded`.
- `payout.failed`: the host's bank refused a payout of her Stripe balance. The money is back
  in her Stripe balance and would be paid out again once she fixes her bank details, so the
  withdrawals it carried are not simply refunded (that would pay her twice): their transfers
  are reversed at Stripe first (idempotently, per withdrawal), then they are refunded.

Every delivery is recorded as a PaymentEvent (provider `stripe_connect`), refused ones through
the purchases' own rate-limited, once-per-body recording. Each change happens under the
withdrawal's row lock with its ledger key, so duplicate or concurrent deliveries change
things once.
"""

import json
import logging
from collections.abc import Mapping
from typing import Any

import stripe
from django.conf import settings
from django.db import transaction

from videochat.errors import ServiceUnavailable
from wallet.payouts.models import PayoutAccount
from wallet.payouts.services import STRIPE, payout_account_updated
from wallet.purchases.models import PaymentEvent
from wallet.purchases.providers import BadSignature, MalformedWebhook, PaymentProvider, WebhookEvent
from wallet.purchases.services import payment_event_record, payment_webhook_verified
from wallet.stripe_api import stripe_client
from wallet.withdrawals.models import Withdrawal
from wallet.withdrawals.services import withdrawal_payout_returned

logger = logging.getLogger(__name__)

Outcome = PaymentEvent.Outcome

ACCOUNT_UPDATED = "account.updated"
TRANSFER_REVERSED = "transfer.reversed"
PAYOUT_FAILED = "payout.failed"


class StripeConnectEvents(PaymentProvider):
    """The sender of Connect's webhook, named for the deliveries it records. Not a payment
    provider one can buy through (it has no checkout and is never in PAYMENT_PROVIDERS)."""

    name = "stripe_connect"
    signature_field = "Stripe-Signature"

    def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verify `Stripe-Signature` with Stripe's scheme and tolerance against any secret of
        STRIPE_CONNECT_WEBHOOK_SECRET, then read the event: `provider_ref` is the id of its
        object, `metadata` holds the connected account (`account`) and the object."""
        problem = "No webhook secret is configured"
        for secret in _secrets():
            try:
                stripe.WebhookSignature.verify_header(
                    raw_body,
                    headers.get("Stripe-Signature"),
                    secret,
                    settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
                )
                break
            except (stripe.SignatureVerificationError, UnicodeDecodeError) as error:
                problem = str(error).split(".")[0]
        else:
            raise BadSignature(problem)
        try:
            event = json.loads(raw_body)
            obj = event["data"]["object"]
            type_, object_id = event["type"], obj["id"]
        except (ValueError, TypeError, KeyError) as error:
            raise MalformedWebhook("The body is not a Stripe event.") from error
        if not (isinstance(type_, str) and isinstance(object_id, str) and isinstance(obj, dict)):
            raise MalformedWebhook("The body is not a Stripe event.")
        return WebhookEvent(
            type=type_[:60],
            provider_ref=object_id[:100],
            metadata={"account": event.get("account") or "", "object": obj},
        )


def _secrets() -> list[str]:
    """The signing secrets of the endpoints Stripe posts here, comma-separated: the Connect
    endpoint's, and the platform endpoint's that sends `transfer.reversed` (an event of the
    platform's own account, which Stripe signs with that endpoint's secret)."""
    configured = settings.STRIPE_CONNECT_WEBHOOK_SECRET or ""
    return [secret.strip() for secret in configured.split(",") if secret.strip()]


def connect_webhook_receive(
    *, raw_body: bytes, headers: Mapping[str, str], client: str
) -> PaymentEvent:
    """Verify one delivery of Connect's webhook, act on it and record it. Raises
    ValidationFailed for a bad signature or body (recorded once per body, counted against
    `client`: RateLimited over PAYMENT_WEBHOOK_REFUSED_RATE) and ServiceUnavailable when
    Stripe could not be asked about the account or what a failed payout carried (Stripe
    delivers the event again; nothing was recorded or changed)."""
    sender = StripeConnectEvents()
    event = payment_webhook_verified(sender, raw_body=raw_body, headers=headers, client=client)
    obj: dict[str, Any] = event.metadata["object"]
    # Stripe calls only outside the database transaction.
    returned = _payout_transfers_reversed(event) if event.type == PAYOUT_FAILED else []
    current = _account_now(event.provider_ref) if event.type == ACCOUNT_UPDATED else None
    with transaction.atomic():
        if event.type == ACCOUNT_UPDATED:
            account = None
            if current is not None:
                account = payout_account_updated(
                    account_id=event.provider_ref,
                    payouts_enabled=current.payouts_enabled is True,
                    default_currency=current.default_currency or "",
                )
            # The account's status is what changed; the outcome speaks of coins: none moved.
            outcome = Outcome.IGNORED if account else Outcome.UNKNOWN_REFERENCE
        elif event.type == TRANSFER_REVERSED:
            outcome = _transfer_reversed(event.provider_ref, obj)
        elif event.type == PAYOUT_FAILED:
            outcome = _withdrawals_returned(returned, _failure(obj))
        else:
            outcome = Outcome.IGNORED
        return payment_event_record(sender, raw_body, outcome, event=event)


def _account_now(account_id: str) -> stripe.Account | None:
    """The connected account as Stripe has it now; None when it is not one of ours (not
    asked). Raises ServiceUnavailable when Stripe cannot be asked (it delivers again)."""
    if not PayoutAccount.objects.filter(provider=STRIPE, account_id=account_id).exists():
        return None
    try:
        return stripe_client().v1.accounts.retrieve(account_id)
    except stripe.StripeError as error:
        logger.error("Stripe account %s could not be fetched: %r", account_id, error)
        raise ServiceUnavailable("Stripe cannot be reached; deliver the event again.") from error


def _transfer_reversed(transfer_id: str, transfer: dict[str, Any]) -> PaymentEvent.Outcome:
    withdrawal_id = _withdrawal_of_transfer(transfer_id, transfer)
    if withdrawal_id is None:
        logger.warning("Stripe reversed transfer %s of no withdrawal", transfer_id)
        return Outcome.UNKNOWN_REFERENCE
    if transfer.get("reversed") is not True:
        # Part of it came back: the host keeps the rest, so neither paid nor refundable as a
        # whole. Finance settles it by hand (an adjustment) from this recorded event.
        logger.error(
            "Stripe reversed transfer %s of withdrawal %s in part (%s of %s): settle by hand",
            transfer_id,
            withdrawal_id,
            transfer.get("amount_reversed"),
            transfer.get("amount"),
        )
        return Outcome.IGNORED
    return _withdrawals_returned([withdrawal_id], "the transfer was reversed")


def _withdrawal_of_transfer(transfer_id: str, transfer: dict[str, Any]) -> int | None:
    """The withdrawal a transfer paid: by our reference, or by the transfer's metadata when
    Stripe's event overtook the sweep recording it (the withdrawal still `approved`)."""
    paid = Withdrawal.objects.filter(payout_ref=transfer_id).values_list("id", flat=True).first()
    if paid is not None:
        return paid
    metadata = transfer.get("metadata") or {}
    claimed = str(metadata.get("withdrawal_id", ""))
    if not claimed.isdigit():
        return None
    return (
        Withdrawal.objects.filter(pk=int(claimed), payout_ref="")
        .values_list("id", flat=True)
        .first()
    )


def _withdrawals_returned(withdrawal_ids: list[int], reason: str) -> PaymentEvent.Outcome:
    if not withdrawal_ids:
        return Outcome.UNKNOWN_REFERENCE
    refunded = [
        withdrawal_payout_returned(withdrawal_id=pk, reason=reason) for pk in withdrawal_ids
    ]
    return Outcome.REVERSED if any(refunded) else Outcome.DUPLICATE


def _failure(payout: dict[str, Any]) -> str:
    code = payout.get("failure_code") or "unknown"
    return f"the host's bank refused the payout ({code})"


def _payout_transfers_reversed(event: WebhookEvent) -> list[int]:
    """The withdrawals whose transfers a failed payout carried, each transfer reversed at
    Stripe (under the key `withdrawal-<id>-reversal`: a redelivery reverses nothing twice).
    Raises ServiceUnavailable when Stripe cannot be asked now."""
    account = event.metadata["account"]
    if not account:
        # The platform's own payout: it carries no transfer to a host.
        return []
    try:
        transfer_ids = _payout_transfer_ids(payout_id=event.provider_ref, account=account)
        withdrawals = list(
            Withdrawal.objects.filter(payout_ref__in=transfer_ids).values_list(
                "id", "payout_ref", "status"
            )
        )
        for withdrawal_id, transfer_id, status in withdrawals:
            # One already refunded (an earlier delivery) has its transfer reversed; one whose
            # reversal went through before a crash too (Stripe forgets the key after a day,
            # and refuses to reverse a transfer twice).
            if status != Withdrawal.Status.PAID:
                continue
            if not stripe_client().v1.transfers.retrieve(transfer_id).reversed:
                stripe_client().v1.transfers.reversals.create(
                    transfer_id,
                    params={"metadata": {"withdrawal_id": str(withdrawal_id)}},
                    options={"idempotency_key": f"withdrawal-{withdrawal_id}-reversal"},
                )
    except stripe.StripeError as error:
        logger.error(
            "Failed payout %s of %s not settled yet: %r", event.provider_ref, account, error
        )
        raise ServiceUnavailable("Stripe cannot be reached; deliver the event again.") from error
    return [withdrawal_id for withdrawal_id, _, _ in withdrawals]


def _payout_transfer_ids(*, payout_id: str, account: str) -> list[str]:
    """The transfers whose money a payout of a connected account carried: the payout's
    balance transactions there, each a payment whose `source_transfer` is our transfer."""
    page = stripe_client().v1.balance_transactions.list(
        params={"payout": payout_id, "type": "payment", "expand": ["data.source"], "limit": 100},
        options={"stripe_account": account},
    )
    transfer_ids = []
    for balance_transaction in page.auto_paging_iter():
        # The payment (expanded; an id alone when Stripe could not expand it).
        transfer = getattr(balance_transaction.source, "source_transfer", None)
        if isinstance(transfer, str):
            transfer_ids.append(transfer)
    return transfer_ids
