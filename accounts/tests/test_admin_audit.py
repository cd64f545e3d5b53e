"""Every change staff make to a user or a report in the admin writes one audit entry per
action, in the admin's transaction: bans, reactivations, access (staff flags, groups,
permissions), other fields, passwords, new accounts, and closed reports."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from accounts.models import Report, User
from adminpanel.models import AuditEntry
from adminpanel.roles import FINANCE, SUPPORT
from tests.factories import StaffFactory
from tests.helpers import logged_in, the_audit_entry

pytestmark = pytest.mark.django_db

USERS = "/admin/accounts/user/"
REPORTS = "/admin/accounts/report/"
IP = "192.0.2.77"


@pytest.fixture
def root() -> User:
    return User.objects.create_superuser("root@example.com", "x", name="Root")


@pytest.fixture
def admin_client(root: User) -> Client:
    return logged_in(root, REMOTE_ADDR=IP, HTTP_USER_AGENT="test-agent")


@pytest.fixture
def sue() -> User:
    return StaffFactory.create(email="sue@example.com", roles=[SUPPORT])


def change_form(user: User, **changes: object) -> dict[str, object]:
    """The user's change form as the admin posts it, with `changes`."""
    fields: dict[str, object] = {
        "email": user.email,
        "name": user.name,
        "gender": user.gender,
        "bio": user.bio,
        "role": user.role,
        "rate_per_minute": user.rate_per_minute,
        "lat": "",
        "lon": "",
        "groups": list(user.groups.values_list("pk", flat=True)),
        "user_permissions": [],
    }
    for flag in ("is_active", "is_staff", "is_superuser"):
        if getattr(user, flag):
            fields[flag] = "on"
    fields.update(changes)
    return {name: value for name, value in fields.items() if value is not False}


def save(client: Client, user: User, **changes: object) -> None:
    response = client.post(f"{USERS}{user.pk}/change/", change_form(user, **changes))
    assert response.status_code == 302, response.content.decode()[:3000]


def test_the_ban_action_writes_one_entry(sue, alice):
    logged_in(sue, REMOTE_ADDR=IP).post(
        USERS, {"action": "deactivate", "_selected_action": [alice.pk]}
    )

    the_audit_entry(
        actor=sue,
        actor_label="sue@example.com",
        action="user.deactivate",
        target_type="accounts.user",
        target_id=str(alice.pk),
        before={"is_active": True},
        after={"is_active": False},
        ip_address=IP,
    )


def test_unticking_active_bans_with_one_entry(admin_client, root, alice):
    save(admin_client, alice, is_active=False)

    the_audit_entry(
        actor=root,
        action="user.deactivate",
        before={"is_active": True},
        after={"is_active": False},
        ip_address=IP,
        user_agent="test-agent",
    )
    alice.refresh_from_db()
    assert not alice.is_active


def test_ticking_active_again_is_a_reactivation(admin_client, root, alice):
    User.objects.filter(pk=alice.pk).update(is_active=False)
    alice.refresh_from_db()

    save(admin_client, alice, is_active="on")

    the_audit_entry(
        actor=root,
        action="user.reactivate",
        before={"is_active": False},
        after={"is_active": True},
    )


def test_granting_a_role_is_an_access_change(admin_client, alice):
    support = Group.objects.get(name=SUPPORT)

    save(admin_client, alice, is_staff="on", groups=[support.pk])

    the_audit_entry(
        action="user.access_change",
        before={"is_staff": False, "groups": []},
        after={"is_staff": True, "groups": [SUPPORT]},
    )


def test_other_fields_are_a_plain_change_and_saving_unchanged_writes_nothing(admin_client, alice):
    save(admin_client, alice)
    assert not AuditEntry.objects.exists()

    save(admin_client, alice, name="Alicia", bio="hi")

    the_audit_entry(
        action="user.change",
        before={"name": "Alice", "bio": ""},
        after={"name": "Alicia", "bio": "hi"},
    )


def test_one_save_that_bans_and_renames_writes_both(admin_client, alice):
    save(admin_client, alice, is_active=False, name="Spammer")

    assert sorted(AuditEntry.objects.values_list("action", flat=True)) == [
        "user.change",
        "user.deactivate",
    ]


def test_setting_a_password_is_recorded_without_it(admin_client, root, alice):
    response = admin_client.post(
        f"{USERS}{alice.pk}/password/",
        {
            "usable_password": "true",
            "password1": "violet-harbour-lantern",
            "password2": "violet-harbour-lantern",
        },
    )

    assert response.status_code == 302
    entry = the_audit_entry(actor=root, action="user.password_set", before={}, after={})
    assert "violet" not in str(entry.__dict__)


def test_creating_an_account_is_recorded_without_its_password(admin_client):
    admin_client.post(
        f"{USERS}add/",
        {
            "email": "nina@example.com",
            "name": "Nina",
            "gender": "female",
            "role": "host",
            "usable_password": "true",
            "password1": "violet-harbour-lantern",
            "password2": "violet-harbour-lantern",
        },
    )

    entry = the_audit_entry(action="user.add", before={})
    assert entry.after["email"] == "nina@example.com"
    assert "violet" not in str(entry.after)


@pytest.mark.parametrize(
    ("action", "closed", "verb"),
    [("mark_resolved", "resolved", "resolve"), ("dismiss", "dismissed", "dismiss")],
)
def test_closing_reports_writes_one_entry_each(sue, alice, bob, hana, action, closed, verb):
    first = Report.objects.create(reporter=alice, reported=bob, reason="spam")
    second = Report.objects.create(reporter=hana, reported=bob, reason="rude")
    done = Report.objects.create(reporter=hana, reported=alice, reason="x", status="resolved")

    logged_in(sue).post(
        REPORTS, {"action": action, "_selected_action": [first.pk, second.pk, done.pk]}
    )

    entries = AuditEntry.objects.order_by("pk")
    assert [(e.action, e.target_id, e.before, e.after) for e in entries] == [
        (f"report.{verb}", str(report.pk), {"status": "open"}, {"status": closed})
        for report in (first, second)
    ]
    assert {entry.actor for entry in entries} == {sue}


def test_closing_a_report_in_its_form_is_recorded(sue, alice, bob):
    filed = Report.objects.create(reporter=alice, reported=bob, reason="spam")

    logged_in(sue).post(f"{REPORTS}{filed.pk}/change/", {"status": "dismissed"})

    the_audit_entry(
        actor=sue,
        action="report.change",
        before={"status": "open"},
        after={"status": "dismissed"},
    )


def test_a_refused_change_writes_nothing(alice):
    finance = logged_in(StaffFactory.create(roles=[FINANCE]))

    finance.post(USERS, {"action": "deactivate", "_selected_action": [alice.pk]})
    finance.post(f"{USERS}{alice.pk}/change/", change_form(alice, name="X"))

    assert not AuditEntry.objects.exists()
