"""The audit log itself: what `audit_record` keeps, that nothing is kept of an action that
rolled back, that the database refuses to change or delete an entry, where an entry says the
request came from, and the read-only admin page."""

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group, Permission
from django.db import DatabaseError, connection, transaction
from django.test import AsyncClient, Client

from accounts.models import User
from accounts.services import user_deactivate
from adminpanel.audit.services import audit_record
from adminpanel.models import AuditEntry
from adminpanel.roles import FINANCE, SUPPORT
from tests.factories import StaffFactory
from tests.helpers import logged_in, the_audit_entry
from videochat.gateway.testing import sync_thread_connections_closed  # noqa: F401

AUDIT = "/admin/adminpanel/auditentry/"


@pytest.fixture
def root(db: None) -> User:
    return User.objects.create_superuser("root@example.com", "x", name="Root")


@pytest.mark.django_db
def test_an_automatic_decision_is_recorded_as_the_systems(alice):
    user_deactivate(user=alice)

    entry = the_audit_entry(
        actor=None,
        actor_label="system",
        action="user.deactivate",
        target_type="accounts.user",
        target_id=str(alice.pk),
        before={"is_active": True},
        after={"is_active": False},
        ip_address=None,
        user_agent="",
    )
    assert entry.target_repr == str(alice)


@pytest.mark.django_db
def test_an_action_that_rolls_back_leaves_no_entry(alice, root):
    with pytest.raises(RuntimeError, match="later step"), transaction.atomic():
        user_deactivate(user=alice, by=root)
        raise RuntimeError("a later step of the action failed")

    assert not AuditEntry.objects.exists()
    alice.refresh_from_db()
    assert alice.is_active


@pytest.mark.django_db
def test_the_actor_label_outlives_the_actor(alice):
    staff = StaffFactory.create(email="gone@example.com", roles=[SUPPORT])
    user_deactivate(user=alice, by=staff)
    staff_id = staff.pk

    staff.delete()

    entry = the_audit_entry(actor_label="gone@example.com")
    assert entry.actor_id == staff_id


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE adminpanel_auditentry SET reason = 'edited'",
        "UPDATE adminpanel_auditentry SET actor_label = 'someone else' WHERE id = %s",
        "DELETE FROM adminpanel_auditentry",
        "DELETE FROM adminpanel_auditentry WHERE id = %s",
        "TRUNCATE adminpanel_auditentry",
    ],
)
def test_the_database_refuses_to_change_or_delete_entries(alice, root, statement):
    user_deactivate(user=alice, by=root)
    entry = the_audit_entry()

    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, [entry.pk] if "%s" in statement else None)

    assert the_audit_entry(reason="", actor_label="root@example.com").pk == entry.pk


@pytest.mark.django_db
def test_the_orm_cannot_change_or_delete_entries_either(alice, root):
    user_deactivate(user=alice, by=root)
    entry = the_audit_entry()

    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(reason="edited")
    with pytest.raises(DatabaseError), transaction.atomic():
        entry.delete()
    the_audit_entry(reason="")


@pytest.mark.django_db(transaction=True)
def test_recording_needs_the_actions_transaction_and_the_test_flush_still_empties_the_log(
    alice: User,
) -> None:
    # Outside a transaction an entry could be kept for an action that then fails.
    with pytest.raises(RuntimeError, match="inside the transaction"):
        audit_record(actor=None, action="user.deactivate", target=alice)
    # Committed for real: the flush after this test must delete it despite the trigger.
    user_deactivate(user=alice)
    the_audit_entry(action="user.deactivate")


@pytest.mark.django_db
def test_an_entry_made_in_a_request_says_where_it_came_from(alice, root):
    client = logged_in(root, REMOTE_ADDR="203.0.113.5", HTTP_USER_AGENT="Mozilla/5.0 audit")

    client.post("/admin/accounts/user/", {"action": "deactivate", "_selected_action": [alice.pk]})

    the_audit_entry(actor=root, ip_address="203.0.113.5", user_agent="Mozilla/5.0 audit")


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_entry_says_where_it_came_from_too(alice: User) -> None:
    # The ASGI handler runs the middleware as a coroutine, the admin view in a thread.
    root = await sync_to_async(User.objects.create_superuser)("root@example.com", "x", name="Root")
    # (The test client's ASGI scope always comes from 127.0.0.1.)
    client = AsyncClient()
    await client.aforce_login(root)

    await client.post(
        "/admin/accounts/user/",
        {"action": "deactivate", "_selected_action": [alice.pk]},
        headers={"User-Agent": "async agent"},
    )

    entry = await AuditEntry.objects.aget()
    assert (entry.actor_id, entry.ip_address, entry.user_agent) == (
        root.pk,
        "127.0.0.1",
        "async agent",
    )


@pytest.mark.django_db
def test_behind_a_proxy_the_address_is_the_hop_it_added(alice, root, settings: Any):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    client = logged_in(
        root, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.9.9.9, 198.51.100.23"
    )

    client.post("/admin/accounts/user/", {"action": "deactivate", "_selected_action": [alice.pk]})

    the_audit_entry(ip_address="198.51.100.23")


@pytest.mark.django_db
def test_a_forged_address_that_is_not_one_is_not_kept(alice, root, settings: Any):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    client = logged_in(root, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="<script>")

    client.post("/admin/accounts/user/", {"action": "deactivate", "_selected_action": [alice.pk]})

    the_audit_entry(ip_address=None)


# --- The admin page ----------------------------------------------------------------------------


@pytest.fixture
def logged(alice: User, bob: User, root: User) -> None:
    """Two entries: root banned alice, the system banned bob."""
    user_deactivate(user=alice, by=root)
    user_deactivate(user=bob)


@pytest.mark.django_db
@pytest.mark.parametrize(("roles", "status"), [([FINANCE], 200), ([SUPPORT], 403), ([], 403)])
def test_superusers_and_finance_read_the_log(logged, roles, status):
    reader = logged_in(StaffFactory.create(roles=roles))
    assert reader.get(AUDIT).status_code == status


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ({}, {"alice", "bob"}),
        ({"actor": "root@example.com"}, {"alice"}),
        ({"actor": "system"}, {"bob"}),
        ({"action": "user.deactivate"}, {"alice", "bob"}),
        ({"action": "withdrawal.approve"}, set()),
        ({"target_type": "accounts.user"}, {"alice", "bob"}),
        ({"q": "bob@"}, {"bob"}),
        ({"created_at__gte": "2000-01-01 00:00:00+00:00"}, {"alice", "bob"}),
        ({"created_at__lt": "2000-01-01 00:00:00+00:00"}, set()),
    ],
)
def test_the_log_filters_by_actor_action_target_and_date(logged, root, query, shown):
    page = logged_in(root).get(AUDIT, query)

    assert page.status_code == 200
    content = page.content.decode()
    assert {name for name in ("alice", "bob") if f"{name}@example.com" in content} == shown


@pytest.mark.django_db
def test_nobody_adds_edits_or_deletes_an_entry_in_the_admin(logged, root):
    client: Client = logged_in(root)
    entry = AuditEntry.objects.filter(actor=root).get()

    detail = client.get(f"{AUDIT}{entry.pk}/change/")
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert b"is_active" in detail.content
    assert client.get(f"{AUDIT}add/").status_code == 403
    assert client.post(f"{AUDIT}{entry.pk}/change/", {"reason": "x"}).status_code == 403
    assert client.post(f"{AUDIT}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.count() == 2


@pytest.mark.django_db
def test_changing_what_a_role_may_do_is_recorded(root):
    support = Group.objects.get(name=SUPPORT)
    kept = list(support.permissions.values_list("pk", flat=True))
    extra = Permission.objects.get(codename="change_withdrawal")

    response = logged_in(root).post(
        f"/admin/auth/group/{support.pk}/change/",
        {"name": SUPPORT, "permissions": [*kept, extra.pk]},
    )

    assert response.status_code == 302
    entry = the_audit_entry(action="group.change", target_type="auth.group", actor=root)
    assert set(entry.after["permissions"]) - set(entry.before["permissions"]) == {str(extra)}
