"""manage.py seed_demo: the demo data `make run` starts with. Safe to run again: it only
creates what is missing and never overwrites what a developer changed."""

from decimal import Decimal
from typing import Any

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import Gender, Role, User
from adminpanel.roles import FINANCE, SUPPORT, roles_sync
from gifts.models import Gift
from wallet.ledger.services import wallet_adjust, wallet_ensure
from wallet.purchases.models import CoinPackage

DEMO_PASSWORD = "demo-pass-123"  # noqa: S105 - printed on purpose: demo logins only

PARIS, LYON, BERLIN = (48.8566, 2.3522), (45.764, 4.8357), (52.52, 13.405)

USERS = [
    # email, name, gender, role, demo coins, profile location (GET /presence/nearby)
    ("staff@demo.example", "Sam Staff", Gender.OTHER, Role.STAFF, 0, None),
    ("hana@demo.example", "Hana", Gender.FEMALE, Role.HOST, 0, PARIS),
    ("maya@demo.example", "Maya", Gender.FEMALE, Role.HOST, 0, LYON),
    ("alex@demo.example", "Alex", Gender.MALE, Role.USER, 5000, PARIS),
    ("ben@demo.example", "Ben", Gender.MALE, Role.USER, 2000, BERLIN),
]

# Staff who are not superusers: one per role (adminpanel/roles.py).
STAFF = [
    # email, name, role (group)
    ("support@demo.example", "Sue Support", SUPPORT),
    ("finance@demo.example", "Fay Finance", FINANCE),
]

GIFTS = [
    # name, icon, cost in coins
    ("Rose", "rose", 10),
    ("Heart", "heart", 50),
    ("Teddy bear", "teddy", 200),
    ("Diamond ring", "ring", 1000),
]

PACKAGES = [
    # coins, price (USD)
    (100, Decimal("0.99")),
    (550, Decimal("4.99")),
    (1200, Decimal("9.99")),
    (6500, Decimal("49.99")),
]


class Command(BaseCommand):
    help = (
        "Create the demo users (two of them with coins), support and finance staff, gift"
        " catalog and coin packages if they are missing."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            roles_sync()
            created_users = [self._user(*row) for row in USERS]
            created_users += [self._staff(*row) for row in STAFF]
            for position, (name, icon, cost) in enumerate(GIFTS):
                Gift.objects.get_or_create(
                    name=name, defaults={"icon": icon, "cost_coins": cost, "position": position}
                )
            for position, (coins, price) in enumerate(PACKAGES):
                CoinPackage.objects.get_or_create(
                    coins=coins,
                    currency="USD",
                    # The product the demo apps would buy in the App Store and Google Play.
                    defaults={"price": price, "position": position, "product_id": f"coins_{coins}"},
                )
        made = sum(created_users)
        self.stdout.write(f"Demo data ready ({made} user(s) created). Demo logins:")
        for email, _name, _gender, role, _coins, _location in USERS:
            self.stdout.write(f"  {role:<7} {email:<22} password: {DEMO_PASSWORD}")
        for email, _name, group in STAFF:
            self.stdout.write(f"  {group:<7} {email:<22} password: {DEMO_PASSWORD}")
        self.stdout.write("  (the staff login is a superuser; support and finance are roles)")

    def _staff(self, email: str, name: str, group: str) -> bool:
        """A staff member of one role (a group), not a superuser."""
        user = User.objects.filter(email=email).first()
        if user is not None:
            return False
        user = User.objects.create_user(
            email, DEMO_PASSWORD, name=name, gender=Gender.OTHER, role=Role.STAFF, is_staff=True
        )
        user.groups.add(Group.objects.get(name=group))
        wallet_ensure(user_id=user.pk)
        return True

    def _user(
        self,
        email: str,
        name: str,
        gender: str,
        role: str,
        coins: int,
        location: tuple[float, float] | None,
    ) -> bool:
        user = User.objects.filter(email=email).first()
        created = user is None
        if user is None and role == Role.STAFF:
            user = User.objects.create_superuser(email, DEMO_PASSWORD, name=name, gender=gender)
        elif user is None:
            lat, lon = location or (None, None)
            # Demo hosts are verified (by the seed: nobody), so they can try withdrawals.
            verified_at = timezone.now() if role == Role.HOST else None
            user = User.objects.create_user(
                email,
                DEMO_PASSWORD,
                name=name,
                gender=gender,
                role=role,
                lat=lat,
                lon=lon,
                host_verified_at=verified_at,
            )
        wallet_ensure(user_id=user.pk)
        if coins:
            # Granted once per user: the key makes a second run a no-op.
            wallet_adjust(
                user_id=user.pk,
                amount=coins,
                idempotency_key=f"seed_demo:{user.pk}",
                reason="demo coins",
            )
        return created
