import pytest

from adminpanel.roles import SUPPORT
from gifts.models import Gift
from gifts.services import gift_send
from tests.factories import GiftFactory, StaffFactory, UserFactory
from wallet.ledger.services import wallet_adjust
from wallet.purchases.models import CoinPackage


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


# --- Gifts sent: read-only for both staff roles --------------------------------------------------

SENDS = "/admin/gifts/giftsend/"


@pytest.fixture
def plain_staff_client(client, db):
    client.force_login(StaffFactory.create(roles=[SUPPORT]))
    return client


def test_staff_list_and_search_gifts_sent(plain_staff_client, alice, bob, hana):
    rose = GiftFactory.create(name="Rose", cost_coins=10)
    for sender in (alice, bob):
        wallet_adjust(user_id=sender.pk, amount=10, idempotency_key=f"f{sender.pk}", reason="t")
    mine = gift_send(sender=alice, to=hana.pk, gift_id=rose.pk).send
    his = gift_send(sender=bob, to=hana.pk, gift_id=rose.pk).send

    def listed(query: str) -> set[int]:
        response = plain_staff_client.get(SENDS + query)
        assert response.status_code == 200
        return {send.pk for send in response.context["cl"].result_list}

    assert listed("") == {mine.pk, his.pk}
    assert listed("?q=alice@example.com") == {mine.pk}
    assert listed("?q=Rose") == {mine.pk, his.pk}


def test_gifts_sent_are_read_only(plain_staff_client, alice, hana):
    rose = GiftFactory.create(name="Rose", cost_coins=10)
    wallet_adjust(user_id=alice.pk, amount=10, idempotency_key="f", reason="t")
    sent = gift_send(sender=alice, to=hana.pk, gift_id=rose.pk).send

    page = plain_staff_client.get(f"{SENDS}{sent.pk}/change/")
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    changed = plain_staff_client.post(f"{SENDS}{sent.pk}/change/", {"coins_spent": 1})
    assert changed.status_code == 403
    assert plain_staff_client.get(f"{SENDS}add/").status_code == 403
    deleted = plain_staff_client.post(f"{SENDS}{sent.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 403
    sent.refresh_from_db()
    assert sent.coins_spent == 10
