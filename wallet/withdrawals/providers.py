"""Payout providers: how the coins of a paid withdrawal leave the platform as money.

A provider is an outside service (a bank, a payout API) behind one small interface, chosen by
the `PAYOUT_PROVIDER` setting. `wallet.withdrawals.services` calls it outside any database
transaction and sends the same idempotency key for every attempt of one withdrawal, so an
adapter must pass that key to its provider (which then pays at most once per key) and raise
`PayoutFailed` whenever it cannot confirm that the payout went out.

`sandbox` is the built-in stand-in for development and tests: it pays instantly, and tests
make it fail with `sandbox_payouts_failing()`.
"""

import hashlib
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar, Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class PayoutRequest:
    # The same key for every attempt of one withdrawal: the provider pays once per key.
    idempotency_key: str
    # Whom to pay: the adapter maps the host to her payout destination at the provider.
    user_id: int
    # What to pay, in coins; the adapter converts to money at the hosts' payout rate.
    coins: int


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


PROVIDERS: dict[str, PayoutProvider] = {"sandbox": SandboxPayoutProvider()}


def payout_provider() -> PayoutProvider:
    """The provider `PAYOUT_PROVIDER` names."""
    try:
        return PROVIDERS[settings.PAYOUT_PROVIDER]
    except KeyError:
        raise ImproperlyConfigured(
            f"PAYOUT_PROVIDER={settings.PAYOUT_PROVIDER!r}: known providers are "
            f"{', '.join(sorted(PROVIDERS))}"
        ) from None
