"""The one Stripe client of the wallet: Checkout (wallet.purchases.stripe) and Connect
payouts (wallet.payouts) both call Stripe through it, with the deployment's secret key."""

from functools import lru_cache

import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Stripe's own retries of a request that failed on the network; each carries the same
# idempotency key, so a retry never pays or charges twice.
NETWORK_RETRIES = 2


def stripe_client() -> stripe.StripeClient:
    """A client for the configured account (STRIPE_SECRET_KEY; STRIPE_API_BASE in tests).
    Raises ImproperlyConfigured without a key."""
    return _client(settings.STRIPE_SECRET_KEY or "", settings.STRIPE_API_BASE or "")


@lru_cache(maxsize=4)
def _client(api_key: str, api_base: str) -> stripe.StripeClient:
    # Cached per configuration: a client keeps its HTTP connections; tests that change the
    # settings get their own.
    if not api_key:
        raise ImproperlyConfigured("STRIPE_SECRET_KEY is not set: Stripe cannot be called.")
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else {},
        max_network_retries=NETWORK_RETRIES,
    )
