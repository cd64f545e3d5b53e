"""The ledger in the admin: the finance role reads wallets, transactions (with their
entries) and entries, the support role does not; nobody, superusers included, adds, changes
or deletes them."""

import pytest
from django.test import Client

from accounts.models import User
from adminpanel.roles import FINANCE, SUPPORT
from tests.factories import StaffFactory
from tests.helpers import logged_in
from wallet.ledger.models import Entry, Transaction
from wallet.ledger.services import wallet_adjust, wallet_ensure

pytestmark = pytest.mark.django_db


@pytest.fixture
def adjusted(alice: User) -> Transaction:
    return wallet_adjust(
        user_id=alice.pk, amount=40, idempotency_key="grant", reason="goodwill"
    ).transaction


@pytest.fixture
def staff() -> Client:
    return logged_in(StaffFactory.create(roles=[FINANCE]))


@pytest.fixture
def superuser() -> Client:
    return logged_in(User.objects.create_superuser("root@example.com", "x", name="Root"))


def test_staff_read_wallets_transactions_and_entries(staff, adjusted, alice):
    wallet_id = wallet_ensure(user_id=alice.pk)
    entry = Entry.objects.get(transaction=adjusted, wallet_id=wallet_id)

    wallets = staff.get("/admin/wallet/wallet/", {"q": alice.email})
    detail = staff.get(f"/admin/wallet/transaction/{adjusted.pk}/change/")
    entries = staff.get("/admin/wallet/entry/", {"type": "adjustment"})

    assert wallets.status_code == detail.status_code == entries.status_code == 200
    assert f"/admin/wallet/wallet/{wallet_id}/change/".encode() in wallets.content
    assert b"1 result" in wallets.content
    # The transaction page shows its entries inline: alice's side and the source's.
    assert f"Wallet of user {alice.pk}".encode() in detail.content
    assert b"Staff adjustments #" in detail.content
    assert f"/admin/wallet/entry/{entry.pk}/change/".encode() in entries.content


@pytest.mark.parametrize("who", ["staff", "superuser"])
@pytest.mark.parametrize("model", ["wallet", "transaction", "entry"])
def test_nobody_adds_changes_or_deletes_ledger_rows(request, who, model, adjusted, alice):
    client = request.getfixturevalue(who)
    row = {
        "wallet": wallet_ensure(user_id=alice.pk),
        "transaction": adjusted.pk,
        "entry": adjusted.entries.values_list("pk", flat=True).first(),
    }[model]
    base = f"/admin/wallet/{model}/"

    assert client.get(f"{base}add/").status_code == 403
    assert client.get(f"{base}{row}/delete/").status_code == 403
    assert client.post(f"{base}{row}/change/", {"balance": 10**6}).status_code == 403
    # The change page itself is a read-only view.
    page = client.get(f"{base}{row}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content


@pytest.mark.parametrize("model", ["wallet", "transaction", "entry"])
def test_support_does_not_read_the_ledger(model):
    support = logged_in(StaffFactory.create(roles=[SUPPORT]))
    assert support.get(f"/admin/wallet/{model}/").status_code == 403


def test_users_who_are_not_staff_are_sent_to_log_in(alice):
    assert logged_in(alice).get("/admin/wallet/wallet/").status_code == 302
