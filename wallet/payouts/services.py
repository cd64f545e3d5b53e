"""Hosts' payout accounts at Stripe Connect (API.md, Wallet; docs/withdrawals.md): onboarding
creates a host's Express account once and hands out a fresh onboarding link each time; Stripe's
`account.updated` events say when the account may be paid out to."""

import logging

import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction

from accounts.models import User
from videochat.errors import PermissionDenied, ServiceUnavailable
from wallet.payouts.models import PayoutAccount
from wallet.stripe_api import stripe_client

logger = logging.getLogger(__name__)

STRIPE = "stripe"
# What GET /payouts/account answers for a host who never started onboarding.
STATUS_NONE = "none"


def payout_account_onboard(*, user: User) -> str:
    """The URL of a new Stripe onboarding link for the host's Express account, which is
    created on her first call (once: Stripe's idempotency key names her, and one row per
    host). Account links expire within minutes and work once, so every call makes a new one.
    Raises PermissionDenied (not a host), ServiceUnavailable (Stripe unreachable or not
    configured)."""
    _check_host(user)
    try:
        account = PayoutAccount.objects.filter(user=user).first() or _account_create(user)
        link = stripe_client().v1.account_links.create(
            params={
                "account": account.account_id,
                "type": "account_onboarding",
                "refresh_url": settings.STRIPE_CONNECT_REFRESH_URL or "",
                "return_url": settings.STRIPE_CONNECT_RETURN_URL or "",
            }
        )
    except (stripe.StripeError, ImproperlyConfigured) as error:
        logger.error("Stripe Connect onboarding of user %s failed: %r", user.pk, error)
        raise ServiceUnavailable("Payout onboarding is not available right now.") from error
    return str(link.url)


def _account_create(user: User) -> PayoutAccount:
    account = stripe_client().v1.accounts.create(
        params={
            "type": "express",
            "email": user.email,
            "capabilities": {"transfers": {"requested": True}},
            "metadata": {"user_id": str(user.pk)},
        },
        # Two first calls at once, or a retry after a lost answer, get the same account.
        options={"idempotency_key": f"payout-account-user-{user.pk}"},
    )
    try:
        with transaction.atomic():
            return PayoutAccount.objects.create(
                user=user,
                provider=STRIPE,
                account_id=account.id,
                currency=(account.default_currency or "").upper(),
            )
    except IntegrityError:
        # The concurrent first call stored the same account.
        return PayoutAccount.objects.get(user=user)


def payout_account_status(*, user: User) -> str:
    """`none` (no account yet), `pending` (onboarding not finished, or Stripe does not pay
    out to it yet) or `enabled`. Raises PermissionDenied when `user` is not a host."""
    _check_host(user)
    status = PayoutAccount.objects.filter(user=user).values_list("status", flat=True).first()
    return status or STATUS_NONE


def payout_account_updated(
    *, account_id: str, payouts_enabled: bool, default_currency: str
) -> PayoutAccount | None:
    """Apply Stripe's view of a connected account (`account.updated`): enabled exactly when
    Stripe says payouts are, in its default currency. None for an account that is not ours."""
    account = PayoutAccount.objects.filter(provider=STRIPE, account_id=account_id).first()
    if account is None:
        return None
    account.status = (
        PayoutAccount.Status.ENABLED if payouts_enabled else PayoutAccount.Status.PENDING
    )
    account.currency = default_currency.upper()[:3]
    account.save(update_fields=["status", "currency", "updated_at"])
    logger.info("Payout account %s of user %s is %s", account_id, account.user_id, account.status)
    return account


def payout_destination(*, user_id: int) -> PayoutAccount | None:
    """The host's payout account, whatever its status."""
    return PayoutAccount.objects.filter(user_id=user_id).first()


def _check_host(user: User) -> None:
    if not user.is_host:
        raise PermissionDenied("Only hosts have payout accounts.")
