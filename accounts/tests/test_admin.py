import pytest
from django.test import Client

from accounts.models import Block, Report, User
from adminpanel.roles import FINANCE, SUPPORT
from tests.factories import StaffFactory
from tests.helpers import logged_in

pytestmark = pytest.mark.django_db

REPORTS = "/admin/accounts/report/"


@pytest.fixture
def staff() -> User:
    # The support role moderates reports (adminpanel/roles.py).
    return StaffFactory.create(email="sam@example.com", roles=[SUPPORT])


@pytest.fixture
def staff_client(staff: User) -> Client:
    return logged_in(staff)


def report(reporter: User, reported: User, reason: str = "spam", **fields: object) -> Report:
    return Report.objects.create(reporter=reporter, reported=reported, reason=reason, **fields)


def test_staff_read_reports_and_resolve_them(staff_client, alice, bob, hana):
    first = report(alice, bob, "sent spam links")
    second = report(hana, bob, "rude on a call")

    page = staff_client.get(REPORTS)

    assert page.status_code == 200
    assert b"sent spam links" in page.content
    assert b"rude on a call" in page.content
    response = staff_client.post(
        REPORTS, {"action": "mark_resolved", "_selected_action": [first.pk]}, follow=True
    )
    assert response.status_code == 200
    assert b"1 report(s) marked resolved." in response.content
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("resolved", "open")


def test_dismiss_leaves_already_closed_reports_as_they_were(staff_client, alice, bob):
    resolved = report(alice, bob, status=Report.Status.RESOLVED)
    open_one = report(alice, bob)

    staff_client.post(
        REPORTS, {"action": "dismiss", "_selected_action": [resolved.pk, open_one.pk]}
    )

    resolved.refresh_from_db()
    open_one.refresh_from_db()
    assert (resolved.status, open_one.status) == ("resolved", "dismissed")


def test_report_changelist_filters_by_status(staff_client, alice, bob):
    report(alice, bob, "still open")
    report(alice, bob, "long closed", status=Report.Status.DISMISSED)

    page = staff_client.get(REPORTS, {"status__exact": "open"})

    assert b"still open" in page.content
    assert b"long closed" not in page.content


def test_staff_can_open_a_report_but_not_rewrite_or_invent_one(staff_client, alice, bob):
    filed = report(alice, bob, "harassment", details="original words")

    page = staff_client.get(f"{REPORTS}{filed.pk}/change/")
    assert page.status_code == 200
    assert b"original words" in page.content

    staff_client.post(
        f"{REPORTS}{filed.pk}/change/",
        {"status": "resolved", "reason": "edited", "details": "edited"},
    )
    filed.refresh_from_db()
    assert (filed.status, filed.reason, filed.details) == (
        "resolved",
        "harassment",
        "original words",
    )
    assert staff_client.get(f"{REPORTS}add/").status_code == 403


def test_staff_of_another_role_cannot_see_reports(alice, bob):
    report(alice, bob)
    finance = logged_in(StaffFactory.create(roles=[FINANCE]))

    assert finance.get(REPORTS).status_code == 403
    closing = finance.post(REPORTS, {"action": "dismiss", "_selected_action": [1]})
    assert closing.status_code == 403


def test_non_staff_cannot_see_reports(client, alice, bob):
    report(alice, bob)
    client.force_login(alice)

    response = client.get(REPORTS)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_admin_creates_a_user_with_a_hashed_password(superuser_client):
    response = superuser_client.post(
        "/admin/accounts/user/add/",
        {
            "email": "New.Host@Example.com",
            "name": "Nina",
            "gender": "female",
            "role": "host",
            "usable_password": "true",
            "password1": "violet-harbour-lantern",
            "password2": "violet-harbour-lantern",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(email="new.host@example.com")
    assert (user.name, user.role) == ("Nina", "host")
    assert user.check_password("violet-harbour-lantern")


def test_admin_refuses_an_email_taken_in_another_case(superuser_client, alice):
    response = superuser_client.post(
        "/admin/accounts/user/add/",
        {
            "email": "ALICE@example.com",
            "name": "Other",
            "gender": "female",
            "role": "user",
            "usable_password": "true",
            "password1": "violet-harbour-lantern",
            "password2": "violet-harbour-lantern",
        },
    )

    assert response.status_code == 200
    assert b"An account with this e-mail already exists." in response.content
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1


def test_admin_user_search_and_filters(superuser_client, alice, bob, hana):
    page = superuser_client.get("/admin/accounts/user/", {"q": "alice@"})
    assert b"alice@example.com" in page.content
    assert b"bob@example.com" not in page.content

    page = superuser_client.get("/admin/accounts/user/", {"role__exact": "host"})
    assert b"hana@example.com" in page.content
    assert b"alice@example.com" not in page.content


def test_admin_user_change_page_opens(superuser_client, alice):
    assert superuser_client.get(f"/admin/accounts/user/{alice.pk}/change/").status_code == 200


def test_admin_lists_blocks(superuser_client, alice, bob):
    Block.objects.create(blocker=alice, blocked=bob)

    page = superuser_client.get("/admin/accounts/block/")

    assert page.status_code == 200
    assert b"alice@example.com" in page.content
