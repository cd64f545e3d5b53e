"""The reports queue for moderation: a report's page shows the reporter's and the reported
user's recent messages (MongoDB, read-only) to staff who may read conversations only; the
"resolve and ban" action closes the report and bans, both audited."""

import pytest
from django.contrib.auth.models import Permission

from accounts.admin import CONVERSATION_SHOWN
from accounts.models import Report, User
from adminpanel.models import AuditEntry
from adminpanel.roles import FINANCE, SUPPORT
from chat.services import message_store
from tests.factories import StaffFactory, UserFactory
from tests.helpers import logged_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]

REPORTS = "/admin/accounts/report/"


@pytest.fixture
def support() -> User:
    return StaffFactory.create(email="sam@example.com", roles=[SUPPORT])


def page_of(user: User, report: Report) -> str:
    page = logged_in(user).get(f"{REPORTS}{report.pk}/change/")
    assert page.status_code == 200
    return page.content.decode()


def test_support_reads_the_reported_conversation(support, alice, bob):
    carol = UserFactory.create(email="carol@example.com")
    message_store(sender_id=bob.pk, to=alice.pk, text="you will regret it", client_id="b1")
    message_store(sender_id=alice.pk, to=bob.pk, text="please stop", client_id="a1")
    message_store(sender_id=bob.pk, to=carol.pk, text="a private word", client_id="b2")
    report = Report.objects.create(reporter=alice, reported=bob, reason="threats")

    page = page_of(support, report)

    assert "you will regret it" in page and "please stop" in page
    assert page.index("you will regret it") < page.index("please stop")  # oldest first
    assert "a private word" not in page  # another conversation of the reported user
    # Read-only: nothing to edit or send.
    assert 'name="text"' not in page


def test_only_the_most_recent_messages_are_shown(support, alice, bob):
    for n in range(CONVERSATION_SHOWN + 1):
        message_store(sender_id=bob.pk, to=alice.pk, text=f"message {n:03d}", client_id=f"b{n}")
    report = Report.objects.create(reporter=alice, reported=bob, reason="spam")

    page = page_of(support, report)

    assert "message 000" not in page
    assert f"message {CONVERSATION_SHOWN:03d}" in page


def test_staff_without_the_permission_see_no_messages(alice, bob):
    message_store(sender_id=bob.pk, to=alice.pk, text="you will regret it", client_id="b1")
    report = Report.objects.create(reporter=alice, reported=bob, reason="threats")
    # Reports, but not conversations.
    moderator = StaffFactory.create(email="mo@example.com")
    moderator.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_report", "change_report"])
    )

    page = page_of(moderator, report)

    assert "threats" in page
    assert "you will regret it" not in page
    assert "reported-conversation" not in page


def test_a_conversation_without_messages_says_so(support, alice, bob):
    report = Report.objects.create(reporter=alice, reported=bob, reason="rude")

    assert "They have not written to each other." in page_of(support, report)


def test_resolve_and_ban_closes_the_report_and_bans_both_audited(support, alice, bob):
    first = Report.objects.create(reporter=alice, reported=bob, reason="threats")
    second = Report.objects.create(reporter=alice, reported=bob, reason="more threats")

    page = logged_in(support).post(
        REPORTS,
        {"action": "resolve_and_ban", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )

    assert b"1 user(s) banned." in page.content
    bob.refresh_from_db()
    assert not bob.is_active
    assert set(Report.objects.values_list("status", flat=True)) == {"resolved"}
    actions = sorted(AuditEntry.objects.values_list("action", "actor__email"))
    assert actions == [
        ("report.resolve", support.email),
        ("report.resolve", support.email),
        ("user.deactivate", support.email),
    ]


def test_resolve_and_ban_needs_the_right_to_ban(alice, bob):
    finance = StaffFactory.create(email="fin@example.com", roles=[FINANCE])
    report = Report.objects.create(reporter=alice, reported=bob, reason="threats")

    logged_in(finance).post(REPORTS, {"action": "resolve_and_ban", "_selected_action": [report.pk]})

    bob.refresh_from_db()
    report.refresh_from_db()
    assert bob.is_active and report.status == "open"


def test_support_does_not_ban_staff_through_a_report(support, alice):
    colleague = StaffFactory.create(email="sue@example.com")
    report = Report.objects.create(reporter=alice, reported=colleague, reason="rude")

    page = logged_in(support).post(
        REPORTS, {"action": "resolve_and_ban", "_selected_action": [report.pk]}, follow=True
    )

    assert b"1 report(s) on staff left open" in page.content
    colleague.refresh_from_db()
    report.refresh_from_db()
    assert colleague.is_active and report.status == "open"
