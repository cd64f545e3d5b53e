from decimal import Decimal

import factory
from django.contrib.auth.models import Group
from django.utils import timezone
from factory.django import DjangoModelFactory

from accounts.models import Gender, Role, User
from calls.models import Call, CallStatus
from gifts.models import Gift
from wallet.purchases.models import CoinPackage

PASSWORD = "correct-horse-battery"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Faker("first_name")
    gender = Gender.MALE
    role = Role.USER
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):  # type: ignore[no-untyped-def]
        if create:
            instance.save()


class HostFactory(UserFactory):
    """A host staff have verified (she may request withdrawals);
    `HostFactory.create(unverified=True)` for one who is not yet."""

    gender = Gender.FEMALE
    role = Role.HOST
    host_verified_at = factory.LazyFunction(timezone.now)

    class Params:
        unverified = factory.Trait(host_verified_at=None)


class StaffFactory(UserFactory):
    """A staff member who is not a superuser, in the roles named:
    `StaffFactory.create(roles=["support"])` (adminpanel/roles.py)."""

    role = Role.STAFF
    is_staff = True

    @factory.post_generation
    def roles(self, create: bool, extracted: list[str] | None, **kwargs: object) -> None:
        if create and extracted:
            self.groups.add(*Group.objects.filter(name__in=extracted))  # type: ignore[attr-defined]


class GiftFactory(DjangoModelFactory):
    class Meta:
        model = Gift

    name = factory.Sequence(lambda n: f"Gift {n}")
    icon = factory.LazyAttribute(lambda gift: gift.name.lower())
    cost_coins = 10


class CoinPackageFactory(DjangoModelFactory):
    class Meta:
        model = CoinPackage

    coins = 100
    price = Decimal("4.99")
    currency = "USD"


class CallFactory(DjangoModelFactory):
    """A ringing call from a user to a host, at the host's terms of the day."""

    class Meta:
        model = Call

    caller = factory.SubFactory(UserFactory)
    callee = factory.SubFactory(HostFactory)
    status = CallStatus.RINGING
    rate_per_minute = 60
    host_share_percent = 50
    billing_period_seconds = 60


class ActiveCallFactory(CallFactory):
    """An answered call as a row only: nothing charged yet (calls/tests/billing_helpers.py
    `start_call` makes one as accept leaves it, its first period paid)."""

    status = CallStatus.ACTIVE
    started_at = factory.LazyFunction(timezone.now)
