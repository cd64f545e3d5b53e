"""Fixtures the wallet tests share: the payment sandbox (test_purchases*), and the rules,
staff and withdrawals in each state of the withdrawal tests (test_withdrawals_*)."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.models import User
from tests.factories import UserFactory
from tests.helpers import earn
from wallet.tests.purchase_helpers import SANDBOX_SECRET
from wallet.tests.withdrawal_helpers import make_staff, pin_withdrawal_rules
from wallet.withdrawals.models import Withdrawal
from wallet.withdrawals.providers import SandboxPayoutProvider
from wallet.withdrawals.services import withdrawal_approve, withdrawal_request


@pytest.fixture
def payment_sandbox(settings: Any) -> None:
    """The sandbox payment provider, the only one, with the secret the tests sign with."""
    settings.PAYMENT_PROVIDERS = ["sandbox"]
    settings.PAYMENTS_SANDBOX_SECRET = SANDBOX_SECRET


@pytest.fixture
def withdrawal_rules(settings: Any) -> None:
    """The withdrawal bounds pinned (withdrawal_helpers.py), whatever .env says."""
    pin_withdrawal_rules(settings)


@pytest.fixture
def staff() -> User:
    return make_staff()


@pytest.fixture
def sandbox_requests() -> Iterator[list[Any]]:
    """What the sandbox provider was asked in this test."""
    SandboxPayoutProvider.requests.clear()
    yield SandboxPayoutProvider.requests  # type: ignore[misc]
    SandboxPayoutProvider.requests.clear()


@pytest.fixture
def pending(hana: User) -> Withdrawal:
    """Hana (3000 coins) asked for 1000, waiting for staff."""
    earn(hana, 3000)
    return withdrawal_request(user=hana, coins=1000)


@pytest.fixture
def approved(pending: Withdrawal, staff: User) -> Withdrawal:
    return withdrawal_approve(withdrawal_id=pending.pk, staff=staff)


@pytest.fixture
def finance() -> Client:
    """A staff member with the permission to review withdrawals (not a superuser)."""
    user = UserFactory.create(email="fiona@example.com", role="staff", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="change_withdrawal"))
    client = Client()
    client.force_login(user)
    return client
