"""Payout providers: how the coins of a paid withdrawal leave the platform as money.

A provider is an outside service (a bank, a payout API) behind one small interface, chosen by
the `PAYOUT_PROVIDER` setting. `wallet.withdrawals.services` calls it outside any database
transaction and sends the same idempotency key for every attempt of one withdrawal, so an
adapter must pass that key to its provider (which then pays at most once per key) and raise
`PayoutFailed` whenever it cannot confirm that the payout went out.

`sandbox` is the built-in stand-in for development and tests: it pays instantly, and tests
make it fail with `sandbox_payouts_failing()`. `stripe` pays with a Stripe Connect Transfer to
the host's connected account (wallet.payouts).
"""

import hashlib
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar, Protocol

import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from wallet.payouts.rates import minor_units, payout_currency
from wallet.stripe_api import stripe_client


@dataclass(frozen=True)
class PayoutRequest:
    # The same key for every attempt of one withdrawal: the provider pays once per key.
    idempotency_key: str
    # Whom to pay: the adapter maps the host to her payout destination at the provider.
    user_id: int
    # What to pay, in coins, and what they are worth (fixed when the withdrawal was approved).
    coins: int
    amount: Decimal
    currency: str
    # The host's account at the provider (Stripe: acct_...); "" when she has none.
    destination: str = ""
    # Ours, for the provider's records and its events about this payout.
    withdrawal_id: int = 0


class PayoutFailed(Exception):
    """The provider did not confirm the payout. The money may or may not have gone out (a
    timeout looks like this too), so the caller retries with the same key and never
    refunds on this alone."""


class PayoutProvider(Protocol):
    name: str

    def send(self, payout: PayoutRequest) -> str:
        """Pay out, or return the payout already made under `payout.idempotency_key`.
        Returns the provider's reference of the payout; raises PayoutFailed."""
        ...


class SandboxPayoutProvider:
    """Pays at once and answers the same reference for the same key, like a real provider
    replaying an idempotent request. Nothing leaves the machine."""

    name = "sandbox"
    # Set by `sandbox_payouts_failing()`: while not None, every payout fails with it.
    failure: ClassVar[str | None] = None
    # The latest requests (bounded: a development server runs for days), for tests to read.
    requests: ClassVar[deque[PayoutRequest]] = deque(maxlen=1000)

    def send(self, payout: PayoutRequest) -> str:
        self.requests.append(payout)
        if self.failure is not None:
            raise PayoutFailed(self.failure)
        digest = hashlib.sha256(payout.idempotency_key.encode()).hexdigest()
        return f"sandbox-{digest[:20]}"


@contextmanager
def sandbox_payouts_failing(message: str = "sandbox: payout declined") -> Iterator[None]:
    """Inside the block, every sandbox payout in this process fails with `message`."""
    SandboxPayoutProvider.failure = message
    try:
        yield
    finally:
        SandboxPayoutProvider.failure = None


class StripePayoutProvider:
    """A Stripe Connect Transfer from the platform's balance to the host's connected account,
    under the withdrawal's idempotency key: Stripe answers a repeat of the same request with
    the transfer it already made. Stripe forgets keys after 24 hours, and staff may retry a
    failed payout later than that, so the transfer also carries the key as its
    `transfer_group`, and an earlier transfer of the group is found before a new one is made.
    Stripe then pays it out to her bank on the account's schedule; a reversal or a failed
    payout comes back as an event (wallet.payouts)."""

    name = "stripe"

    def check(self) -> None:
        """Raise ImproperlyConfigured, naming the setting, when one it needs is missing."""
        if not settings.STRIPE_SECRET_KEY:
            raise ImproperlyConfigured("PAYOUT_PROVIDER=stripe needs STRIPE_SECRET_KEY.")
        if not settings.STRIPE_CONNECT_WEBHOOK_SECRET:
            raise ImproperlyConfigured(
                "PAYOUT_PROVIDER=stripe needs STRIPE_CONNECT_WEBHOOK_SECRET: without Connect's "
                "events no host's payouts are ever enabled."
            )
        payout_currency("")  # the rates are readable and the default currency has one

    def send(self, payout: PayoutRequest) -> str:
        if not payout.destination:
            raise PayoutFailed("The host has no Stripe payout account.")
        transfers = stripe_client().v1.transfers
        try:
            earlier = transfers.list(params={"transfer_group": payout.idempotency_key, "limit": 1})
            if earlier.data:
                return str(earlier.data[0].id)
            transfer = transfers.create(
                params={
                    "amount": minor_units(amount=payout.amount, currency=payout.currency),
                    "currency": payout.currency.lower(),
                    "destination": payout.destination,
                    "transfer_group": payout.idempotency_key,
                    "metadata": {"withdrawal_id": str(payout.withdrawal_id)},
                },
                options={"idempotency_key": payout.idempotency_key},
            )
        except stripe.StripeError as error:
            # Declined, refused or unreachable: not confirmed; the sweep retries the same key.
            raise PayoutFailed(f"Stripe: {error.user_message or error}") from error
        return str(transfer.id)


PROVIDERS: dict[str, PayoutProvider] = {
    "sandbox": SandboxPayoutProvider(),
    "stripe": StripePayoutProvider(),
}


def payout_provider() -> PayoutProvider:
    """The provider `PAYOUT_PROVIDER` names, its settings checked (ImproperlyConfigured)."""
    try:
        provider = PROVIDERS[settings.PAYOUT_PROVIDER]
    except KeyError:
        raise ImproperlyConfigured(
            f"PAYOUT_PROVIDER={settings.PAYOUT_PROVIDER!r}: known providers are "
            f"{', '.join(sorted(PROVIDERS))}"
        ) from None
    if isinstance(provider, StripePayoutProvider):
        # Named at start-up (wallet.providers_check) rather than at the first payout.
        provider.check()
    return provider
