"""Prices are money: every add, change (the form or the list's editable columns) and delete
of a gift or a coin package in the admin writes one audit entry."""

from decimal import Decimal

import pytest
from django.test import Client

from accounts.models import User
from adminpanel.models import AuditEntry
from gifts.models import Gift
from tests.factories import CoinPackageFactory, GiftFactory
from tests.helpers import logged_in, the_audit_entry

pytestmark = pytest.mark.django_db

GIFTS = "/admin/gifts/gift/"
PACKAGES = "/admin/wallet/coinpackage/"


@pytest.fixture
def root() -> User:
    return User.objects.create_superuser("root@example.com", "x", name="Root")


@pytest.fixture
def admin_client(root: User) -> Client:
    return logged_in(root, REMOTE_ADDR="192.0.2.1")


def test_adding_a_gift_is_recorded(admin_client, root):
    admin_client.post(
        f"{GIFTS}add/",
        {"name": "Crown", "icon": "crown", "cost_coins": 500, "is_active": "on", "position": 3},
    )

    crown = Gift.objects.get(name="Crown")
    the_audit_entry(
        actor=root,
        action="gift.add",
        target_type="gifts.gift",
        target_id=str(crown.pk),
        before={},
        after={
            "name": "Crown",
            "icon": "crown",
            "cost_coins": 500,
            "is_active": True,
            "position": 3,
        },
        ip_address="192.0.2.1",
    )


def test_a_price_changed_in_the_list_is_recorded(admin_client):
    rose = GiftFactory.create(name="Rose", cost_coins=10, position=0)

    response = admin_client.post(
        GIFTS,
        {
            "form-TOTAL_FORMS": 1,
            "form-INITIAL_FORMS": 1,
            "form-0-id": rose.pk,
            "form-0-cost_coins": 15,
            "form-0-is_active": "on",
            "form-0-position": 0,
            "_save": "Save",
        },
    )

    assert response.status_code == 302
    the_audit_entry(action="gift.change", before={"cost_coins": 10}, after={"cost_coins": 15})


def test_deleting_gifts_is_recorded_one_entry_each(admin_client):
    rose = GiftFactory.create(name="Rose", cost_coins=10)
    lily = GiftFactory.create(name="Lily", cost_coins=20)

    admin_client.post(
        GIFTS, {"action": "delete_selected", "_selected_action": [rose.pk, lily.pk], "post": "yes"}
    )

    assert not Gift.objects.exists()
    entries = AuditEntry.objects.order_by("target_repr")
    assert [(e.action, e.before["name"], e.before["cost_coins"], e.after) for e in entries] == [
        ("gift.delete", "Lily", 20, {}),
        ("gift.delete", "Rose", 10, {}),
    ]


def test_deleting_a_gift_on_its_page_is_recorded(admin_client):
    rose = GiftFactory.create(name="Rose", cost_coins=10)

    admin_client.post(f"{GIFTS}{rose.pk}/delete/", {"post": "yes"})

    the_audit_entry(action="gift.delete", target_id=str(rose.pk))


def test_a_coin_package_price_change_is_recorded(admin_client):
    package = CoinPackageFactory.create(coins=100, price=Decimal("0.99"), currency="USD")

    response = admin_client.post(
        f"{PACKAGES}{package.pk}/change/",
        {"coins": 100, "price": "1.49", "currency": "USD", "is_active": "on", "position": 0},
    )

    assert response.status_code == 302
    the_audit_entry(
        action="coinpackage.change",
        target_type="wallet.coinpackage",
        before={"price": "0.99"},
        after={"price": "1.49"},
    )
