"""The call log in the admin: both staff roles read it; nobody edits it."""

import pytest
from django.test import Client

from adminpanel.roles import SUPPORT
from calls.models import Call, CallStatus, EndReason
from tests.factories import CallFactory, HostFactory, StaffFactory
from tests.helpers import logged_in

pytestmark = pytest.mark.django_db

CALLS = "/admin/calls/call/"


@pytest.fixture
def staff_client() -> Client:
    return logged_in(StaffFactory.create(roles=[SUPPORT]))


def make_call(caller, callee, **fields) -> Call:
    return CallFactory.create(caller=caller, callee=callee, **fields)


def test_staff_list_search_and_filter_calls(staff_client, alice, bob, hana):
    other_host = HostFactory.create(email="olga@example.com")
    missed = make_call(alice, hana, status=CallStatus.MISSED, end_reason=EndReason.TIMEOUT)
    ended = make_call(bob, other_host, status=CallStatus.ENDED, end_reason=EndReason.HANGUP)

    def listed(query: str) -> set[int]:
        response = staff_client.get(CALLS + query)
        assert response.status_code == 200
        return {call.pk for call in response.context["cl"].result_list}

    assert listed("") == {missed.pk, ended.pk}
    assert listed("?q=olga@example.com") == {ended.pk}
    assert listed("?q=alice@example.com") == {missed.pk}
    assert listed("?status__exact=missed") == {missed.pk}
    assert listed("?end_reason__exact=hangup") == {ended.pk}


def test_the_call_log_is_read_only(staff_client, alice, hana):
    call = make_call(alice, hana)

    page = staff_client.get(f"{CALLS}{call.pk}/change/")
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    assert staff_client.post(f"{CALLS}{call.pk}/change/", {"status": "ended"}).status_code == 403
    assert staff_client.get(f"{CALLS}add/").status_code == 403
    assert staff_client.post(f"{CALLS}{call.pk}/delete/", {"post": "yes"}).status_code == 403
    call.refresh_from_db()
    assert call.status == "ringing"


def test_non_staff_are_sent_to_the_login(alice):
    client = Client()
    client.force_login(alice)
    assert client.get(CALLS).status_code == 302
