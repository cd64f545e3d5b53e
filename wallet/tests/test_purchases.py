"""Starting a purchase: the package catalog, POST /wallet/purchases (snapshot, checkout,
Idempotency-Key replays and mismatches, one purchase under concurrent duplicates), and the
read-only purchase admin."""

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

import wallet.purchases.admin  # noqa: F401  (see test_the_admin_is_autodiscovered)
from accounts.models import User
from tests.factories import CoinPackageFactory, UserFactory
from tests.helpers import assert_error
from tests.servers import run_python
from tests.threads import all_at_once
from wallet.ledger.models import Transaction
from wallet.purchases.models import CoinPackage, PaymentEvent, Purchase

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("payment_sandbox")]

PACKAGES = "/api/v1/wallet/packages"
PURCHASES = "/api/v1/wallet/purchases"


@pytest.fixture
def package() -> CoinPackage:
    return CoinPackageFactory.create()


def start(client: APIClient, package_id: int, key: str | None = None, **body: object) -> Any:
    headers = {"Idempotency-Key": key} if key is not None else None
    return client.post(
        PURCHASES, {"package_id": package_id, **body}, format="json", headers=headers
    )


# --- GET /wallet/packages ------------------------------------------------------------------


def test_packages_lists_the_active_ones_in_display_order(client_for, alice):
    big = CoinPackageFactory.create(
        coins=1000, price=Decimal("39.90"), currency="EUR", position=2, product_id="coins_1000"
    )
    small = CoinPackageFactory.create(coins=100, price=Decimal("4.99"), position=1)
    CoinPackageFactory.create(coins=500, price=Decimal("19.99"), position=0, is_active=False)

    response = client_for(alice).get(PACKAGES)

    assert response.status_code == 200
    assert response.json() == [
        {"id": small.pk, "coins": 100, "price": "4.99", "currency": "USD", "product_id": ""},
        {
            "id": big.pk,
            "coins": 1000,
            "price": "39.90",
            "currency": "EUR",
            "product_id": "coins_1000",
        },
    ]


# --- POST /wallet/purchases ----------------------------------------------------------------


def test_a_purchase_starts_pending_with_the_sandbox_checkout(client_for, alice, package):
    response = start(client_for(alice), package.pk)

    assert response.status_code == 201, response.content
    body = response.json()
    purchase = Purchase.objects.get()
    assert body == {
        "id": purchase.pk,
        "status": "pending",
        "provider": "sandbox",
        "checkout": {"purchase_id": purchase.pk, "provider_ref": purchase.provider_ref},
    }
    # What was sold is kept as it was: staff may edit the package later.
    assert (purchase.user, purchase.package, purchase.coins) == (alice, package, 100)
    assert (purchase.price, purchase.currency) == (Decimal("4.99"), "USD")
    assert purchase.provider_ref.startswith("sandbox_")
    assert purchase.idempotency_key == ""
    # Nothing is credited before the provider confirms.
    assert not Transaction.objects.exists()
    assert client_for(alice).get("/api/v1/wallet").json()["balance"] == 0


def test_without_a_key_every_request_is_a_new_purchase(client_for, alice, package):
    client = client_for(alice)
    first, second = start(client, package.pk), start(client, package.pk)

    assert first.json()["id"] != second.json()["id"]
    assert first.json()["checkout"]["provider_ref"] != second.json()["checkout"]["provider_ref"]
    assert Purchase.objects.count() == 2


def test_the_same_key_and_body_answer_the_same_purchase_again(client_for, alice, package):
    client = client_for(alice)
    first = start(client, package.pk, key="k-1")
    again = start(client, package.pk, key="k-1")
    # Naming the default provider is the same request.
    explicit = start(client, package.pk, key="k-1", provider="sandbox")

    assert first.status_code == again.status_code == explicit.status_code == 201
    assert first.json() == again.json() == explicit.json()
    assert Purchase.objects.get().idempotency_key == "k-1"


def test_a_replay_shows_the_purchase_as_it_is_now(client_for, alice, package):
    client = client_for(alice)
    first = start(client, package.pk, key="k-1").json()
    Purchase.objects.filter(pk=first["id"]).update(status=Purchase.Status.FAILED)

    again = start(client, package.pk, key="k-1").json()

    assert again == {**first, "status": "failed"}


def test_the_same_key_for_another_package_is_a_mismatch(client_for, alice, package):
    other = CoinPackageFactory.create(coins=500, price=Decimal("19.99"))
    client = client_for(alice)
    start(client, package.pk, key="k-1")

    error = assert_error(start(client, other.pk, key="k-1"), 409, "idempotency_mismatch")

    assert error["details"] == {"idempotency_key": "k-1"}
    assert Purchase.objects.count() == 1


def test_keys_belong_to_their_user(client_for, alice, bob, package):
    mine = start(client_for(alice), package.pk, key="k-1").json()
    theirs = start(client_for(bob), package.pk, key="k-1").json()

    assert mine["id"] != theirs["id"]
    assert Purchase.objects.get(pk=theirs["id"]).user == bob


def test_a_key_over_64_characters_is_refused(client_for, alice, package):
    client = client_for(alice)

    error = assert_error(start(client, package.pk, key="k" * 65), 400, "validation_error")

    assert set(error["details"]) == {"Idempotency-Key"}
    assert not Purchase.objects.exists()
    assert start(client, package.pk, key="k" * 64).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "package_id"),
        ({"package_id": "many"}, "package_id"),
        ({"package_id": 0}, "package_id"),
        ({"package_id": 999_999}, "package_id"),
        ({"package_id": "inactive"}, "package_id"),
        ({"package_id": "ok", "provider": "paypal"}, "provider"),
    ],
)
def test_unknown_packages_and_providers_are_refused(client_for, alice, package, body, field):
    inactive = CoinPackageFactory.create(coins=5, price=Decimal("1.00"), is_active=False)
    ids = {"inactive": inactive.pk, "ok": package.pk}
    body = {name: ids.get(value, value) for name, value in body.items()}

    response = client_for(alice).post(PURCHASES, body, format="json")

    error = assert_error(response, 400, "validation_error")
    assert set(error["details"]) == {field}
    assert not Purchase.objects.exists()


def test_without_the_sandbox_secret_purchases_are_unavailable(settings, client_for, alice, package):
    settings.PAYMENTS_SANDBOX_SECRET = None

    assert_error(start(client_for(alice), package.pk), 503, "service_unavailable")
    assert not Purchase.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_start_one_purchase():
    alice = UserFactory.create()
    package = CoinPackageFactory.create(coins=100, price=Decimal("4.99"))
    clients = 4

    def buy() -> tuple[int, dict[str, object]]:
        client = APIClient()
        client.force_authenticate(alice)
        response = start(client, package.pk, key="double-tap")
        return response.status_code, response.json()

    answers = all_at_once(clients, buy)

    assert Purchase.objects.count() == 1
    purchase = Purchase.objects.get()
    assert [status for status, _ in answers] == [201] * clients
    assert {body["id"] for _, body in answers} == {purchase.pk}


# --- admin ---------------------------------------------------------------------------------


@pytest.fixture
def superuser_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root@example.com", "x", name="Root"))
    return client


def test_staff_find_purchases_and_events_but_cannot_edit_them(
    superuser_client, client_for, alice, bob, package
):
    mine = start(client_for(alice), package.pk).json()
    start(client_for(bob), package.pk)
    purchase = Purchase.objects.get(pk=mine["id"])
    PaymentEvent.objects.create(
        provider="sandbox",
        event_type="payment.failed",
        provider_ref=purchase.provider_ref,
        purchase=purchase,
        outcome=PaymentEvent.Outcome.MARKED_FAILED,
        body="{}",
    )

    by_email = superuser_client.get("/admin/wallet/purchase/", {"q": "alice@"})
    by_ref = superuser_client.get("/admin/wallet/purchase/", {"q": purchase.provider_ref})
    filtered = superuser_client.get(
        "/admin/wallet/purchase/", {"status__exact": "pending", "provider__exact": "sandbox"}
    )
    events = superuser_client.get(
        "/admin/wallet/paymentevent/", {"outcome__exact": "marked_failed"}
    )
    event_by_purchase = superuser_client.get("/admin/wallet/paymentevent/", {"q": purchase.pk})
    event_by_text = superuser_client.get("/admin/wallet/paymentevent/", {"q": "not-a-number"})
    detail = superuser_client.get(f"/admin/wallet/purchase/{purchase.pk}/change/")

    for page in (by_email, by_ref, filtered, events, event_by_purchase, event_by_text, detail):
        assert page.status_code == 200
    assert by_email.context["cl"].result_count == 1
    assert by_ref.context["cl"].result_count == 1
    assert filtered.context["cl"].result_count == 2
    assert events.context["cl"].result_count == 1
    assert event_by_purchase.context["cl"].result_count == 1
    assert event_by_text.context["cl"].result_count == 0
    # Read-only, superusers included: the status changes only through the signed webhook.
    assert superuser_client.get("/admin/wallet/purchase/add/").status_code == 403
    change = superuser_client.post(
        f"/admin/wallet/purchase/{purchase.pk}/change/", {"status": "credited"}
    )
    assert change.status_code == 403
    delete = superuser_client.post(f"/admin/wallet/purchase/{purchase.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 403
    purchase.refresh_from_db()
    assert purchase.status == "pending"
    assert not Transaction.objects.exists()


@pytest.mark.slow
def test_the_admin_is_autodiscovered():
    # Django loads only wallet/admin.py: it must import the purchases' admin. A fresh process,
    # because this module imports that admin itself.
    check = (
        "import django; django.setup();"
        "from django.contrib import admin;"
        "from wallet.purchases.models import PaymentEvent, Purchase;"
        "assert admin.site.is_registered(Purchase), 'Purchase is not in the admin';"
        "assert admin.site.is_registered(PaymentEvent), 'PaymentEvent is not in the admin'"
    )
    result = run_python(check)
    assert result.returncode == 0, result.stderr[-2000:]
