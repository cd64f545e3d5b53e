from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Role, User
from gifts.models import Gift
from videochat.management.commands.seed_demo import DEMO_PASSWORD
from wallet.purchases.models import CoinPackage


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_seed_demo_creates_the_demo_world_once():
    first = seed()
    second = seed()

    assert User.objects.count() == 7
    assert Gift.objects.filter(is_active=True).count() == 4
    assert CoinPackage.objects.filter(is_active=True).count() == 4
    assert "7 user(s) created" in first
    assert "0 user(s) created" in second
    assert "staff@demo.example" in second and DEMO_PASSWORD in second

    staff = User.objects.get(email="staff@demo.example")
    assert staff.is_staff and staff.is_superuser and staff.role == Role.STAFF
    # One staff member per role, not superusers.
    for email, group in [("support@demo.example", "support"), ("finance@demo.example", "finance")]:
        member = User.objects.get(email=email)
        assert member.is_staff and not member.is_superuser and member.role == Role.STAFF
        assert list(member.groups.values_list("name", flat=True)) == [group]
        assert email in second
    assert User.objects.filter(role=Role.HOST).count() == 2
    # The demo hosts may request withdrawals.
    assert all(host.is_verified_host for host in User.objects.filter(role=Role.HOST))
    assert User.objects.filter(role=Role.USER).count() == 2
    assert all(user.check_password(DEMO_PASSWORD) for user in User.objects.all())
    balances = dict(User.objects.values_list("email", "wallet__balance"))
    assert balances["alex@demo.example"] == 5000
    assert balances["ben@demo.example"] == 2000
    assert balances["hana@demo.example"] == 0
    # Hosts and users have a place, so GET /presence/nearby finds them once online.
    located = User.objects.exclude(lat=None).exclude(lon=None).values_list("email", flat=True)
    assert set(located) == {f"{n}@demo.example" for n in ("hana", "maya", "alex", "ben")}


@pytest.mark.django_db
def test_seed_demo_keeps_what_staff_changed():
    seed()
    Gift.objects.filter(name="Rose").update(cost_coins=15)
    seed()
    assert Gift.objects.get(name="Rose").cost_coins == 15
