"""Fixtures of the withdrawal tests (test_withdrawals_*), shared by their modules."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.models import User
from tests.factories import UserFactory
from wallet.tests.test_withdrawals_api import fund, make_staff
from wallet.withdrawals.models import Withdrawal
from wallet.withdrawals.providers import SandboxPayoutProvider
from wallet.withdrawals.services import withdrawal_approve, withdrawal_request


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
    fund(hana, 3000)
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
