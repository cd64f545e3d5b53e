"""The users list for support staff: balance (one query, whatever the page size), role,
status and host verification, filters; Ban and Unban actions, both audited."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from accounts.services import user_deactivate
from adminpanel.models import AuditEntry
from adminpanel.roles import SUPPORT
from tests.factories import HostFactory, StaffFactory, UserFactory
from tests.helpers import fund, logged_in

pytestmark = pytest.mark.django_db

USERS = "/admin/accounts/user/"


@pytest.fixture
def support() -> User:
    return StaffFactory.create(email="sam@example.com", roles=[SUPPORT])


@pytest.fixture
def support_client(support: User) -> Client:
    return logged_in(support)


def queries_for_the_list(client: Client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(USERS).status_code == 200
    return len(captured)


def test_the_list_shows_balance_role_and_status(support_client, alice, bob, hana):
    fund(alice, 1234)
    user_deactivate(user=bob)
    HostFactory.create(email="nina@example.com", unverified=True)

    page = support_client.get(USERS).content.decode()

    for heading in ("Balance", "Role", "Status", "Verified host"):
        assert heading in page
    assert "1234" in page
    assert "banned" in page and "active" in page
    # Verified hana, unverified nina; no icon for users who are not hosts.
    assert 'alt="True"' in page and 'alt="False"' in page


def test_balances_come_in_the_same_query_as_the_users(support_client):
    UserFactory.create_batch(2)
    few = queries_for_the_list(support_client)
    UserFactory.create_batch(10)

    assert queries_for_the_list(support_client) == few


def test_the_list_filters_by_status_and_verification(support_client, alice, bob, hana):
    user_deactivate(user=bob)
    nina = HostFactory.create(email="nina@example.com", unverified=True)

    banned = support_client.get(USERS, {"is_active__exact": "0"}).content.decode()
    unverified = support_client.get(USERS, {"verified": "no"}).content.decode()
    verified = support_client.get(USERS, {"verified": "yes"}).content.decode()

    assert "bob@example.com" in banned and "alice@example.com" not in banned
    assert nina.email in unverified
    assert hana.email not in unverified and alice.email not in unverified
    assert hana.email in verified and nina.email not in verified


def test_unban_reactivates_a_banned_user_audited(support, support_client, alice, bob):
    user_deactivate(user=bob)

    page = support_client.post(
        USERS, {"action": "reactivate", "_selected_action": [alice.pk, bob.pk]}, follow=True
    )

    assert b"1 user(s) reactivated." in page.content
    bob.refresh_from_db()
    assert bob.is_active
    (entry,) = AuditEntry.objects.filter(action="user.reactivate")
    assert (entry.actor, entry.target_id) == (support, str(bob.pk))
    assert (entry.before, entry.after) == ({"is_active": False}, {"is_active": True})


def test_support_cannot_unban_a_staff_member(support_client):
    colleague = StaffFactory.create(email="sue@example.com", is_active=False)

    page = support_client.post(
        USERS, {"action": "reactivate", "_selected_action": [colleague.pk]}, follow=True
    )

    assert b"0 user(s) reactivated." in page.content
    colleague.refresh_from_db()
    assert not colleague.is_active
