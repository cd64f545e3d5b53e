"""The staff roles (adminpanel/roles.py): the groups exist with exactly their permissions
after every migrate, and each role reaches exactly its admin pages."""

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.test import Client

from accounts.models import Report, User
from adminpanel.roles import FINANCE, ROLES, SUPPORT, roles_sync
from tests.factories import GiftFactory, StaffFactory
from tests.helpers import logged_in

pytestmark = pytest.mark.django_db


def codenames(group: Group) -> set[str]:
    return {
        f"{app}.{codename}"
        for app, codename in group.permissions.values_list("content_type__app_label", "codename")
    }


def test_migrate_made_the_roles_with_exactly_their_permissions():
    assert {group.name: codenames(group) for group in Group.objects.all()} == ROLES


def test_syncing_again_takes_away_what_was_granted_by_hand():
    support = Group.objects.get(name=SUPPORT)
    support.permissions.add(Permission.objects.get(codename="change_withdrawal"))

    roles_sync()
    roles_sync()

    assert codenames(support) == ROLES[SUPPORT]
    assert Group.objects.filter(name__in=ROLES).count() == 2


def test_a_role_naming_a_missing_permission_fails_loudly(monkeypatch: Any):
    monkeypatch.setitem(ROLES, SUPPORT, frozenset({"accounts.ban_everyone"}))
    with pytest.raises(LookupError, match=r"accounts\.ban_everyone"):
        roles_sync()


def role_client(*roles: str) -> Client:
    return logged_in(StaffFactory.create(roles=list(roles)))


def reaches(client: Client, url: str) -> bool:
    status = client.get(url).status_code
    assert status in (200, 403), (url, status)
    return status == 200


# The pages the issue names for each role; every other registered page is superuser-only.
SUPPORT_PAGES = {
    "accounts.user",
    "accounts.report",
    "accounts.block",
    "calls.call",
    "gifts.giftsend",
}
FINANCE_PAGES = {
    "wallet.withdrawal",
    "wallet.wallet",
    "wallet.transaction",
    "wallet.entry",
    "wallet.purchase",
    "wallet.paymentevent",
    "wallet.payoutaccount",
    "wallet.coinpackage",
    "gifts.gift",
    "gifts.giftsend",
    "calls.call",
    "adminpanel.auditentry",
}


@pytest.mark.parametrize(
    ("roles", "pages"),
    [([SUPPORT], SUPPORT_PAGES), ([FINANCE], FINANCE_PAGES), ([], set())],
    ids=["support", "finance", "no role"],
)
def test_each_role_reaches_exactly_its_admin_pages(roles: list[str], pages: set[str]):
    client = role_client(*roles)
    registered = {model._meta.label_lower for model in admin.site._registry}
    assert pages <= registered

    reached = {
        label for label in registered if reaches(client, f"/admin/{label.replace('.', '/')}/")
    }

    assert reached == pages
    # The index lists their apps only; staff without a role see none.
    index = client.get("/admin/").content.decode()
    assert ("/admin/wallet/" in index) == (FINANCE in roles)
    assert ("/admin/accounts/" in index) == (SUPPORT in roles)


def test_support_cannot_review_withdrawals_nor_read_money():
    support = role_client(SUPPORT)
    user = User.objects.get(groups__name=SUPPORT)

    assert support.get("/admin/wallet/withdrawal/").status_code == 403
    assert not user.has_perm("adminpanel.view_finance")
    assert user.has_perm("adminpanel.read_conversations")


def test_finance_cannot_ban_nor_close_reports(alice, bob):
    finance = role_client(FINANCE)
    report = Report.objects.create(reporter=alice, reported=bob, reason="spam")

    ban = finance.post(
        "/admin/accounts/user/", {"action": "deactivate", "_selected_action": [bob.pk]}
    )
    close = finance.post(
        "/admin/accounts/report/", {"action": "dismiss", "_selected_action": [report.pk]}
    )

    assert (ban.status_code, close.status_code) == (403, 403)
    bob.refresh_from_db()
    report.refresh_from_db()
    assert bob.is_active and report.status == "open"
    assert User.objects.get(groups__name=FINANCE).has_perm("adminpanel.view_finance")


def test_finance_reads_the_catalog_but_only_superusers_change_prices():
    rose = GiftFactory.create(name="Rose", cost_coins=10)
    finance = role_client(FINANCE)

    page = finance.get(f"/admin/gifts/gift/{rose.pk}/change/")
    edit = finance.post(f"/admin/gifts/gift/{rose.pk}/change/", {"cost_coins": 1})

    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert edit.status_code == 403
    rose.refresh_from_db()
    assert rose.cost_coins == 10


def test_support_bans_users_but_not_staff_and_grants_no_access(alice):
    support = role_client(SUPPORT)
    root = User.objects.create_superuser("root@example.com", "x", name="Root")

    support.post(
        "/admin/accounts/user/", {"action": "deactivate", "_selected_action": [alice.pk, root.pk]}
    )
    alice.refresh_from_db()
    root.refresh_from_db()
    assert (alice.is_active, root.is_active) == (False, True)

    # A staff account's page is read-only to them, and so are everyone's access fields.
    assert b'name="_save"' not in support.get(f"/admin/accounts/user/{root.pk}/change/").content
    password = support.get(f"/admin/accounts/user/{root.pk}/password/")
    assert password.status_code == 403
    page = support.get(f"/admin/accounts/user/{alice.pk}/change/").content.decode()
    assert 'name="_save"' in page
    assert 'name="is_superuser"' not in page and 'name="groups"' not in page


@pytest.mark.parametrize(("roles", "allowed"), [([FINANCE], True), ([SUPPORT], False)])
def test_only_finance_opens_the_dashboard_and_the_exports(roles: list[str], allowed: bool):
    client = role_client(*roles)
    dashboard = client.get("/admin/finance/")
    export = client.get("/adminpanel/exports/calls.csv", {"from": "2026-01-01", "to": "2026-01-02"})

    assert dashboard.status_code == (200 if allowed else 403)
    assert export.status_code == (200 if allowed else 403)
    assert (b"/admin/finance/" in client.get("/admin/").content) == allowed
