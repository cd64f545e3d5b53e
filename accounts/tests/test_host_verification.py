"""Host verification (docs/staff.md, "Moderation"): only verified hosts request withdrawals
(403 `host_not_verified`, nothing held); support staff verify and revoke in the admin,
recorded with who and when, audited; the data migration grandfathers hosts who earned."""

import importlib
from typing import Any

import pytest
from django.apps import apps
from django.test import Client

from accounts.models import User
from adminpanel.models import AuditEntry
from adminpanel.roles import FINANCE, SUPPORT
from gifts.services import gift_send
from tests.factories import GiftFactory, HostFactory, StaffFactory
from tests.helpers import assert_error, balance, earn, fund, logged_in, the_audit_entry
from wallet.ledger.models import Transaction, TransactionKind
from wallet.tests.withdrawal_helpers import WITHDRAWALS, pin_withdrawal_rules
from wallet.withdrawals.models import Withdrawal

pytestmark = pytest.mark.django_db

USERS = "/admin/accounts/user/"


@pytest.fixture(autouse=True)
def withdrawal_rules(settings: Any) -> None:
    pin_withdrawal_rules(settings)


@pytest.fixture
def support() -> User:
    return StaffFactory.create(email="sam@example.com", roles=[SUPPORT])


@pytest.fixture
def newcomer() -> User:
    host = HostFactory.create(email="nina@example.com", name="Nina", unverified=True)
    earn(host, 3000)
    return host


def act(client: Client, action: str, *users: User) -> Any:
    return client.post(
        USERS, {"action": action, "_selected_action": [user.pk for user in users]}, follow=True
    )


def test_an_unverified_host_cannot_request_a_withdrawal_and_nothing_is_held(client_for, newcomer):
    response = client_for(newcomer).post(
        WITHDRAWALS, {"coins": 1000}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )

    assert_error(response, 403, "host_not_verified")
    assert balance(newcomer) == 3000
    assert not Withdrawal.objects.exists()
    assert not Transaction.objects.filter(kind=TransactionKind.WITHDRAWAL).exists()


def test_support_verifies_a_host_who_may_then_withdraw(client_for, support, newcomer, alice):
    page = act(logged_in(support), "verify_hosts", newcomer, alice)

    assert b"1 host(s) verified." in page.content
    newcomer.refresh_from_db()
    assert newcomer.host_verified_by == support
    assert newcomer.host_verified_at is not None
    alice.refresh_from_db()
    assert alice.host_verified_at is None  # not a host: nothing to verify
    the_audit_entry(
        actor=support,
        action="user.verify_host",
        target_id=str(newcomer.pk),
        before={"host_verified_at": None},
        after={"host_verified_at": newcomer.host_verified_at.isoformat()},
    )
    response = client_for(newcomer).post(WITHDRAWALS, {"coins": 1000}, format="json")
    assert response.status_code == 201, response.content
    assert balance(newcomer) == 2000


def test_verifying_again_keeps_who_verified_first(support, hana):
    first = (hana.host_verified_at, hana.host_verified_by)

    page = act(logged_in(support), "verify_hosts", hana)

    assert b"0 host(s) verified." in page.content
    hana.refresh_from_db()
    assert (hana.host_verified_at, hana.host_verified_by) == first
    assert not AuditEntry.objects.exists()


def test_revoking_a_verification_stops_withdrawals(client_for, support, hana):
    fund(hana, 3000)
    verified_at = hana.host_verified_at

    page = act(logged_in(support), "unverify_hosts", hana)

    assert b"1 host(s) no longer verified." in page.content
    hana.refresh_from_db()
    assert (hana.host_verified_at, hana.host_verified_by) == (None, None)
    the_audit_entry(
        actor=support,
        action="user.unverify_host",
        before={"host_verified_at": verified_at.isoformat()},
        after={"host_verified_at": None},
    )
    response = client_for(hana).post(WITHDRAWALS, {"coins": 1000}, format="json")
    assert_error(response, 403, "host_not_verified")


def test_finance_staff_cannot_verify_hosts(newcomer):
    finance = StaffFactory.create(email="fin@example.com", roles=[FINANCE])

    response = act(logged_in(finance), "verify_hosts", newcomer)

    assert response.status_code == 403
    newcomer.refresh_from_db()
    assert newcomer.host_verified_at is None


def test_a_superuser_verifies_hosts_too(superuser_client, newcomer):
    act(superuser_client, "verify_hosts", newcomer)

    newcomer.refresh_from_db()
    assert newcomer.host_verified_by is not None
    assert newcomer.host_verified_by.email == "root@example.com"


def test_the_change_page_shows_who_verified_a_host(support, newcomer):
    act(logged_in(support), "verify_hosts", newcomer)

    page = logged_in(support).get(f"{USERS}{newcomer.pk}/change/")

    assert page.status_code == 200
    assert b"Host verification" in page.content
    assert b"sam@example.com" in page.content


def test_the_migration_grandfathers_hosts_who_earned(alice):
    migration = importlib.import_module("accounts.migrations.0002_host_verification")
    earner = HostFactory.create(unverified=True)
    idle = HostFactory.create(unverified=True)
    fund(alice, 500)
    fund(idle, 500)  # coins, but none earned
    gift_send(sender=alice, to=earner.pk, gift_id=GiftFactory.create(cost_coins=100).pk)

    migration.grandfather_earning_hosts(apps, None)

    earner.refresh_from_db()
    idle.refresh_from_db()
    alice.refresh_from_db()
    assert earner.host_verified_at is not None and earner.host_verified_by is None
    assert idle.host_verified_at is None
    assert alice.host_verified_at is None
