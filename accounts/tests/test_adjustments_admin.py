"""Manual adjustments in the admin (superusers): through the ledger with a reason, after a
confirmation page, once per form (a double submit moves coins once), never below zero,
audited as `wallet.adjust`."""

import re

import pytest
from django.test import Client

from accounts.models import User
from adminpanel.models import AuditEntry
from adminpanel.roles import FINANCE, SUPPORT
from tests.factories import StaffFactory
from tests.helpers import balance, fund, logged_in, the_audit_entry
from wallet.ledger.models import Transaction, TransactionKind

pytestmark = pytest.mark.django_db


def adjust_url(user: User) -> str:
    return f"/admin/accounts/user/{user.pk}/adjust/"


def form_key(client: Client, user: User) -> str:
    page = client.get(adjust_url(user))
    assert page.status_code == 200
    match = re.search(rb'name="key" value="([0-9a-f]+)"', page.content)
    assert match, page.content
    return match.group(1).decode()


def adjustments() -> int:
    return Transaction.objects.filter(kind=TransactionKind.ADJUSTMENT).count()


def test_a_grant_is_confirmed_first_then_made_once(superuser_client, alice):
    key = form_key(superuser_client, alice)
    form = {"amount": "250", "reason": "goodwill after an outage", "key": key}

    confirmation = superuser_client.post(adjust_url(alice), form)

    assert confirmation.status_code == 200
    page = confirmation.content.decode()
    assert "+250 coins" in page and "alice@example.com" in page
    assert "goodwill after an outage" in page
    assert balance(alice) == 0

    done = superuser_client.post(adjust_url(alice), {**form, "post": "yes"}, follow=True)
    again = superuser_client.post(adjust_url(alice), {**form, "post": "yes"}, follow=True)

    assert b"Adjusted alice@example.com by +250 coins." in done.content
    assert b"already made: nothing moved again" in again.content
    assert balance(alice) == 250
    (txn,) = Transaction.objects.filter(kind=TransactionKind.ADJUSTMENT)
    assert txn.metadata == {"reason": "goodwill after an outage"}
    the_audit_entry(
        actor=User.objects.get(email="root@example.com"),
        action="wallet.adjust",
        target_id=str(alice.pk),
        before={"balance": 0},
        after={"balance": 250, "amount": 250},
        reason="goodwill after an outage",
    )


def test_taking_back_more_than_the_balance_moves_nothing(superuser_client, alice):
    fund(alice, 100)
    before = adjustments()
    form = {"amount": "-101", "reason": "fraud", "key": form_key(superuser_client, alice)}

    page = superuser_client.post(adjust_url(alice), {**form, "post": "yes"})

    assert page.status_code == 200
    assert b"fewer than 101 coins: nothing was taken back" in page.content
    assert balance(alice) == 100
    assert adjustments() == before
    assert not AuditEntry.objects.exists()


def test_taking_back_down_to_zero_works(superuser_client, alice):
    fund(alice, 100)
    form = {"amount": "-100", "reason": "fraud", "key": form_key(superuser_client, alice)}

    superuser_client.post(adjust_url(alice), {**form, "post": "yes"})

    assert balance(alice) == 0


@pytest.mark.parametrize("amount, reason", [("10", ""), ("10", "   "), ("0", "why"), ("x", "why")])
def test_a_reason_and_a_nonzero_amount_are_required(superuser_client, alice, amount, reason):
    form = {"amount": amount, "reason": reason, "key": form_key(superuser_client, alice)}

    page = superuser_client.post(adjust_url(alice), {**form, "post": "yes"})

    assert page.status_code == 200
    assert b"errorlist" in page.content
    assert balance(alice) == 0
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("role", [SUPPORT, FINANCE])
def test_only_superusers_adjust(alice, role):
    staff = StaffFactory.create(email="sam@example.com", roles=[role])
    form = {"amount": "10", "reason": "why", "key": "k", "post": "yes"}

    assert logged_in(staff).get(adjust_url(alice)).status_code == 403
    assert logged_in(staff).post(adjust_url(alice), form).status_code == 403
    assert balance(alice) == 0


def test_the_change_page_links_to_the_adjustment(superuser_client, alice):
    fund(alice, 42)

    page = superuser_client.get(f"/admin/accounts/user/{alice.pk}/change/").content.decode()

    assert adjust_url(alice) in page
    assert "42" in page
