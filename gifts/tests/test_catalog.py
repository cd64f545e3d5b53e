"""GET /api/v1/gifts: the active catalog as a plain list, in the order staff set."""

import pytest

from gifts.tests.helpers import GIFTS
from tests.factories import GiftFactory

pytestmark = pytest.mark.django_db


def test_the_catalog_lists_active_gifts_in_position_order(client_for, alice):
    heart = GiftFactory.create(name="Heart", cost_coins=50, position=2)
    rose = GiftFactory.create(name="Rose", cost_coins=10, position=1)
    GiftFactory.create(name="Retired", cost_coins=5, position=0, is_active=False)
    # Same position: the cheaper one first, then by id.
    teddy = GiftFactory.create(name="Teddy", cost_coins=200, position=2)
    bear = GiftFactory.create(name="Bear", cost_coins=200, position=2)

    response = client_for(alice).get(GIFTS)

    assert response.status_code == 200, response.content
    assert response.json() == [
        {"id": rose.pk, "name": "Rose", "cost_coins": 10, "icon": "rose"},
        {"id": heart.pk, "name": "Heart", "cost_coins": 50, "icon": "heart"},
        {"id": teddy.pk, "name": "Teddy", "cost_coins": 200, "icon": "teddy"},
        {"id": bear.pk, "name": "Bear", "cost_coins": 200, "icon": "bear"},
    ]


def test_an_empty_catalog_is_an_empty_list(client_for, alice):
    GiftFactory.create(name="Retired", cost_coins=5, is_active=False)

    response = client_for(alice).get(GIFTS)

    assert (response.status_code, response.json()) == (200, [])


def test_the_catalog_follows_the_admins_changes(client_for, alice):
    rose = GiftFactory.create(name="Rose", cost_coins=10, position=1)
    heart = GiftFactory.create(name="Heart", cost_coins=50, position=2)
    client = client_for(alice)
    assert [g["name"] for g in client.get(GIFTS).json()] == ["Rose", "Heart"]

    rose.position, rose.cost_coins = 3, 12
    rose.save()
    heart.is_active = False
    heart.save()

    assert client.get(GIFTS).json() == [
        {"id": rose.pk, "name": "Rose", "cost_coins": 12, "icon": "rose"}
    ]
