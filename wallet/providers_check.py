"""Start-up check of the configured payment and payout providers (docs/payments.md)."""

from django.conf import settings

from wallet.purchases.providers import payment_provider
from wallet.withdrawals.providers import payout_provider


def providers_check() -> None:
    """Build every configured provider once: each raises ImproperlyConfigured, naming the
    setting, when its credentials are missing (settings.py already refused the sandbox in
    production unless PAYMENTS_ALLOW_SANDBOX is set)."""
    for name in settings.PAYMENT_PROVIDERS:
        payment_provider(name)
    payout_provider()
