"""Issue 13, item 8: the deliveries of every provider, Stripe Connect's included, stay
exactly-once under 50 parallel duplicates sent to a real uvicorn server (its own bounded
database pool, real concurrency), and after a run of purchases, spending, refunds and payouts
across all providers the ledger reconciles.

Each provider's signed bodies come from its own test helpers; the providers' outside APIs
are the same local stand-ins their own tests use, reached by the server process."""

import http.client
import json
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from accounts.models import User
from gifts.services import gift_send
from tests.factories import CoinPackageFactory, GiftFactory, HostFactory, UserFactory
from tests.fixtures import access_token_for
from tests.helpers import balance, earn
from tests.servers import HOST, Servers, running_servers
from tests.stripe_standin import stripe_api  # noqa: F401 (fixture)
from tests.threads import each_at_once
from wallet.ledger.models import Transaction, TransactionKind, Wallet
from wallet.ledger.reconcile import ledger_check
from wallet.purchases.models import PaymentEvent, Purchase
from wallet.purchases.services import purchase_create
from wallet.tests.appstore_helpers import (
    appstore,  # noqa: F401 (fixture)
    appstore_refund_delivery,
    signed_transaction,
)
from wallet.tests.googleplay_helpers import (
    GooglePlayStandin,
    googleplay_fixture,  # noqa: F401 (fixture)
    googleplay_void_delivery,
)
from wallet.tests.payouts_helpers import (
    ConnectStandIn,
    connect_event_delivery,
    connect_fixture,  # noqa: F401 (fixture)
    onboard,
)
from wallet.tests.purchase_helpers import WEBHOOK, event, sign
from wallet.tests.stripe_helpers import charge, checkout_session, dispute, stripe_event_delivery
from wallet.tests.withdrawal_helpers import make_staff
from wallet.withdrawals.services import withdrawal_approve, withdrawal_request
from wallet.withdrawals.tasks import withdrawals_process

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.servers,
    pytest.mark.timeout(240),
    pytest.mark.usefixtures("payment_sandbox", "withdrawal_rules"),
]

DUPLICATES = 50

# The settings the providers read, handed to the server process as its environment.
PROVIDER_SETTINGS = [
    "PAYMENT_PROVIDERS",
    "PAYMENTS_SANDBOX_SECRET",
    "APPSTORE_BUNDLE_ID",
    "APPSTORE_APP_APPLE_ID",
    "APPSTORE_ENVIRONMENT",
    "APPSTORE_ROOT_CERTIFICATES",
    "GOOGLEPLAY_PACKAGE_NAME",
    "GOOGLEPLAY_SERVICE_ACCOUNT_FILE",
    "GOOGLEPLAY_PUBSUB_AUDIENCE",
    "GOOGLEPLAY_PUBSUB_SERVICE_ACCOUNT",
    "GOOGLEPLAY_API_BASE",
    "GOOGLEPLAY_OIDC_CERTS_URL",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_CONNECT_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
    "PAYOUT_PROVIDER",
    "PAYOUT_COIN_RATES",
    "PAYOUT_DEFAULT_CURRENCY",
]

Delivery = tuple[str, bytes, dict[str, str]]


def environment_of(settings: Any, names: list[str]) -> dict[str, str]:
    values = {name: getattr(settings, name) for name in names}
    return {
        name: ",".join(value) if isinstance(value, list) else str(value)
        for name, value in values.items()
        if value not in (None, "", [])
    }


@pytest.fixture
def server(
    settings: Any,
    tmp_path: Path,
    appstore: Any,  # noqa: F811
    googleplay: Any,
    connect: ConnectStandIn,
) -> Iterator[Servers]:
    settings.PAYMENT_PROVIDERS = [*settings.PAYMENT_PROVIDERS, "stripe"]
    env = environment_of(settings, PROVIDER_SETTINGS)
    with running_servers(tmp_path, static=False, env=env) as started:
        yield started


def post(port: int, delivery: Delivery, token: str | None = None) -> tuple[int, Any]:
    path, body, headers = delivery
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    headers = {"Content-Type": "application/json", **headers}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def fifty_at_once(port: int, delivery: Delivery, token: str | None = None) -> list[Any]:
    """The same delivery DUPLICATES times in parallel; every answer must be a 2xx."""
    answers = each_at_once(*[lambda: post(port, delivery, token)] * DUPLICATES)
    assert {status for status, _ in answers} <= {200, 201}, answers[:3]
    return [body for _, body in answers]


def statuses(answers: list[Any]) -> Counter[str]:
    return Counter(answer["status"] for answer in answers)


def exactly_once(outcome: str) -> Counter[str]:
    return Counter({outcome: 1, "duplicate": DUPLICATES - 1})


def reversals_of(purchase: Purchase) -> int:
    return Transaction.objects.filter(
        kind=TransactionKind.PURCHASE_REVERSAL, reference=f"purchase:{purchase.pk}"
    ).count()


def spend(user: User, host: User, coins: int) -> None:
    gift_send(sender=user, to=host.pk, gift_id=GiftFactory.create(cost_coins=coins).pk)


def test_fifty_duplicates_of_each_provider_act_once_and_the_ledger_reconciles(
    server: Servers,
    googleplay: GooglePlayStandin,
    connect: ConnectStandIn,
) -> None:
    port = server.port
    assert port is not None
    hana = HostFactory.create()

    # Sandbox (the checkout providers' path): a success, then spending, then a refund.
    sandra = UserFactory.create()
    sold = CoinPackageFactory.create(coins=100, price=Decimal("4.99"))
    purchase = purchase_create(user=sandra, package_id=sold.pk).purchase
    success = event(purchase)
    assert statuses(fifty_at_once(port, (WEBHOOK, success, {"X-Signature": sign(success)}))) == (
        exactly_once("credited")
    )
    spend(sandra, hana, 60)
    refund = event(purchase, "payment.reversed")
    answers = fifty_at_once(port, (WEBHOOK, refund, {"X-Signature": sign(refund)}))
    assert statuses(answers) == exactly_once("reversed")
    assert reversals_of(purchase) == 1
    # 40 taken from her balance, hana's 30 clawed back, the platform's 30 owed.
    assert (balance(sandra), Wallet.objects.get(owner=sandra).owed, balance(hana)) == (0, 30, 0)

    # App Store: the same signed transaction posted 50 times, then its REFUND 50 times.
    CoinPackageFactory.create(coins=100, product_id="coins_100")
    ann = UserFactory.create()
    proof: Delivery = (
        "/api/v1/wallet/purchases/appstore",
        json.dumps({"signed_transaction": signed_transaction("2000000000000050")}).encode(),
        {},
    )
    credited = fifty_at_once(port, proof, access_token_for(ann))
    assert len({answer["id"] for answer in credited}) == 1
    assert balance(ann) == 100
    answers = fifty_at_once(port, appstore_refund_delivery("2000000000000050"))
    assert statuses(answers) == exactly_once("reversed")
    assert balance(ann) == 0

    # Google Play: the same token posted 50 times, then the voided purchase 50 times.
    CoinPackageFactory.create(coins=550, product_id="coins_550")
    gus = UserFactory.create()
    token, order_id = googleplay.buy("coins_550")
    proof = (
        "/api/v1/wallet/purchases/googleplay",
        json.dumps({"product_id": "coins_550", "purchase_token": token}).encode(),
        {},
    )
    credited = fifty_at_once(port, proof, access_token_for(gus))
    assert len({answer["id"] for answer in credited}) == 1
    assert balance(gus) == 550
    answers = fifty_at_once(port, googleplay_void_delivery(order_id, token))
    assert statuses(answers) == exactly_once("reversed")
    assert balance(gus) == 0

    # Stripe Checkout: the paid session 50 times, then the refunded charge 50 times (each a
    # redelivery of one event, as Stripe retries), then the dispute 50 times.
    stella = UserFactory.create()
    checkout = Purchase.objects.create(
        user=stella,
        package=sold,
        coins=100,
        price=Decimal("4.99"),
        currency="USD",
        provider="stripe",
        provider_ref="stripe_exactly_once",
    )
    paid = stripe_event_delivery(
        "checkout.session.completed", checkout_session(checkout), event_id="evt_paid"
    )
    assert statuses(fifty_at_once(port, paid)) == exactly_once("credited")
    assert balance(stella) == 100
    half = charge(checkout, amount_refunded=250)
    refunded = stripe_event_delivery("charge.refunded", half, event_id="evt_refund")
    assert statuses(fifty_at_once(port, refunded)) == exactly_once("reversed")
    assert balance(stella) == 50
    disputed = stripe_event_delivery("charge.dispute.created", dispute(checkout), event_id="evt_dp")
    assert statuses(fifty_at_once(port, disputed)) == exactly_once("reversed")
    assert balance(stella) == 0

    # Stripe Connect: hana's withdrawal paid by a Transfer, which Stripe reverses; the
    # reversal delivered 50 times refunds it once.
    earn(hana, 3000)
    onboard(hana, connect)
    withdrawal = withdrawal_request(user=hana, coins=1000)
    withdrawal_approve(withdrawal_id=withdrawal.pk, staff=make_staff())
    assert withdrawals_process() == 1
    withdrawal.refresh_from_db()
    assert (withdrawal.status, balance(hana)) == ("paid", 2000)
    transfer = connect.transfers[withdrawal.payout_ref]
    reversal = {**transfer, "reversed": True, "amount_reversed": transfer["amount"]}
    answers = fifty_at_once(port, connect_event_delivery("transfer.reversed", reversal))
    assert statuses(answers) == exactly_once("reversed")
    withdrawal.refresh_from_db()
    assert (withdrawal.status, balance(hana)) == ("refunded", 3000)

    assert Purchase.objects.filter(status="reversed").count() == 4
    # Checkout providers credit by webhook (the stores' purchases are posted by their apps).
    assert PaymentEvent.objects.filter(outcome="credited").count() == 2
    report = ledger_check()
    assert report.ok, report.text()
    assert report.owed_total == 30
