import pytest

from accounts.models import Block, Report
from accounts.tests.helpers import throttle_limit
from tests.factories import UserFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

REPORTS = "/api/v1/reports"


def test_report_is_stored_for_staff(client_for, alice, bob):
    body = {"user_id": bob.pk, "reason": "spam", "details": "Sent me links all night."}

    response = client_for(alice).post(REPORTS, body, format="json")

    assert response.status_code == 201
    report = Report.objects.get()
    assert (report.reporter, report.reported, report.status) == (alice, bob, "open")
    assert response.json() == {
        "id": report.pk,
        "user_id": bob.pk,
        "reason": "spam",
        "details": "Sent me links all night.",
        "created_at": report.created_at.isoformat().replace("+00:00", "Z"),
    }


def test_report_details_are_optional(client_for, alice, bob):
    response = client_for(alice).post(REPORTS, {"user_id": bob.pk, "reason": "rude"}, format="json")

    assert response.status_code == 201
    assert response.json()["details"] == ""
    assert Report.objects.get().details == ""


def test_a_user_who_blocked_you_can_still_be_reported(client_for, alice, bob):
    Block.objects.create(blocker=bob, blocked=alice)

    response = client_for(alice).post(REPORTS, {"user_id": bob.pk, "reason": "x"}, format="json")

    assert response.status_code == 201


def test_reporting_yourself_is_refused(client_for, alice):
    response = client_for(alice).post(REPORTS, {"user_id": alice.pk, "reason": "x"}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert list(error["details"]) == ["user_id"]
    assert not Report.objects.exists()


def test_reporting_an_unknown_or_deactivated_user_is_404(client_for, alice):
    gone = UserFactory.create(is_active=False)

    for user_id in (gone.pk, 987654321, 2**63):
        response = client_for(alice).post(
            REPORTS, {"user_id": user_id, "reason": "x"}, format="json"
        )
        assert_error(response, 404, "not_found")
    assert not Report.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"reason": ""}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"reason": "x" * 101}, "reason"),
        ({"reason": None}, "reason"),
        ({"details": "x" * 2001}, "details"),
        ({"details": ["a"]}, "details"),
        ({"user_id": "bob"}, "user_id"),
        ({"user_id": 1.5}, "user_id"),
        ({"user_id": 0}, "user_id"),
        ({"user_id": True}, "user_id"),
    ],
)
def test_bad_report_values_are_refused(client_for, alice, bob, change, field):
    body = {"user_id": bob.pk, "reason": "spam", "details": "", **change}

    response = client_for(alice).post(REPORTS, body, format="json")

    error = assert_error(response, 400, "validation_error")
    assert list(error["details"]) == [field]
    assert not Report.objects.exists()


def test_report_limits_are_exact(client_for, alice, bob):
    body = {"user_id": bob.pk, "reason": "r" * 100, "details": "d" * 2000}

    assert client_for(alice).post(REPORTS, body, format="json").status_code == 201


def test_report_names_missing_fields(client_for, alice):
    error = assert_error(
        client_for(alice).post(REPORTS, {}, format="json"), 400, "validation_error"
    )

    assert set(error["details"]) == {"user_id", "reason"}


def test_report_refuses_malformed_json_and_huge_bodies(client_for, alice, bob):
    client = client_for(alice)

    assert_error(
        client.post(REPORTS, '{"user_id": 1', content_type="application/json"),
        400,
        "validation_error",
    )
    huge = {"user_id": bob.pk, "reason": "x", "details": "x" * 100_000}
    assert_error(client.post(REPORTS, huge, format="json"), 413, "payload_too_large")


def test_reports_are_throttled_per_user(client_for, alice, bob, hana):
    limit = throttle_limit("reports")
    client = client_for(alice)
    body = {"user_id": bob.pk, "reason": "spam"}
    for _ in range(limit):
        assert client.post(REPORTS, body, format="json").status_code == 201

    response = client.post(REPORTS, body, format="json")

    error = assert_error(response, 429, "rate_limited")
    assert int(response["Retry-After"]) == error["details"]["retry_after"] > 0
    assert Report.objects.count() == limit
    # Someone else on the same address is not held back.
    assert client_for(hana).post(REPORTS, body, format="json").status_code == 201
