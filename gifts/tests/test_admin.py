import pytest

from gifts.models import Gift
from tests.factories import UserFactory
from wallet.models import CoinPackage


@pytest.fixture
def staff_client(client, db):
    staff = UserFactory.create(is_staff=True, is_superuser=True, role="staff")
    client.force_login(staff)
    return client


def test_staff_add_a_gift_in_the_admin(staff_client):
    response = staff_client.post(
        "/admin/gifts/gift/add/",
        {"name": "Crown", "icon": "crown", "cost_coins": 500, "is_active": "on", "position": 3},
    )
    assert response.status_code == 302, response.content
    gift = Gift.objects.get(name="Crown")
    assert (gift.cost_coins, gift.is_active, gift.position) == (500, True, 3)


def test_the_admin_refuses_a_free_gift(staff_client):
    response = staff_client.post(
        "/admin/gifts/gift/add/", {"name": "Free", "icon": "x", "cost_coins": 0, "position": 0}
    )
    assert response.status_code == 200  # the form comes back with the error
    assert not Gift.objects.filter(name="Free").exists()


def test_staff_add_a_coin_package_and_bad_currency_is_refused(staff_client):
    ok = staff_client.post(
        "/admin/wallet/coinpackage/add/",
        {"coins": 300, "price": "2.99", "currency": "EUR", "is_active": "on", "position": 1},
    )
    assert ok.status_code == 302
    bad = staff_client.post(
        "/admin/wallet/coinpackage/add/",
        {"coins": 300, "price": "2.99", "currency": "euro", "position": 1},
    )
    assert bad.status_code == 200
    assert list(CoinPackage.objects.values_list("currency", flat=True)) == ["EUR"]


def test_non_staff_cannot_open_the_admin(client, db):
    client.force_login(UserFactory.create())
    response = client.get("/admin/gifts/gift/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
