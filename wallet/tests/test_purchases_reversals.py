"""Refunds, revocations and chargebacks (API.md, Wallet; docs/payments.md, "Refunds and
chargebacks"), through the sandbox provider's signed `payment.reversed` event, which takes
the same path as every provider's: the coins come back from the buyer's balance, then from
the host earnings they paid inside the settlement window, and the rest is owed, restricting
the account until a purchase pays it or staff write it off."""

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from adminpanel.models import AuditEntry
from adminpanel.roles import FINANCE
from gifts.services import gift_send
from tests.factories import GiftFactory, HostFactory, StaffFactory
from tests.helpers import assert_error, balance, earn, fund, logged_in, the_audit_entry
from videochat.errors import AccountRestricted
from wallet.ledger.debts import debt_write_off
from wallet.ledger.models import Entry, Transaction, Wallet
from wallet.ledger.reconcile import ledger_check
from wallet.ledger.selectors import wallet_withdrawable
from wallet.purchases.models import PaymentEvent, Purchase
from wallet.tests.purchase_helpers import WEBHOOK, buy, event, sign
from wallet.withdrawals.services import withdrawal_request

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("payment_sandbox", "withdrawal_rules"),
]


def deliver(body: bytes) -> Any:
    return Client().post(
        WEBHOOK, body, content_type="application/json", headers={"X-Signature": sign(body)}
    )


def bought(user: User, coins: int = 100, price: str = "4.99") -> Purchase:
    """A purchase started and confirmed by the provider: the coins are in."""
    purchase = buy(user, coins=coins, price=price)
    assert deliver(event(purchase)).json() == {"status": "credited"}
    purchase.refresh_from_db()
    return purchase


def reverse(purchase: Purchase, amount: str | None = None, **fields: Any) -> str:
    """The provider's signed reversal of `amount` (default: the whole price) in all."""
    body = event(purchase, "payment.reversed", amount=amount or str(purchase.price), **fields)
    response = deliver(body)
    assert response.status_code == 200, response.content
    status: str = response.json()["status"]
    return status


def owed(user: User) -> int:
    return Wallet.objects.get(owner=user).owed


def history(user: User) -> list[tuple[str, int]]:
    client = APIClient()
    client.force_authenticate(user)
    results = client.get("/api/v1/wallet/transactions").json()["results"]
    return [(row["type"], row["amount"]) for row in reversed(results)]


def spend_on(host: User, sender: User, coins: int) -> None:
    gift = GiftFactory.create(cost_coins=coins)
    gift_send(sender=sender, to=host.pk, gift_id=gift.pk)


def assert_reconciles() -> None:
    report = ledger_check()
    assert report.ok, report.text()


# --- nothing spent: the coins simply come back ----------------------------------------------


def test_a_refund_of_unspent_coins_takes_them_back(alice):
    purchase = bought(alice)

    assert reverse(purchase) == "reversed"

    assert balance(alice) == 0
    assert owed(alice) == 0
    purchase.refresh_from_db()
    assert (purchase.status, purchase.reversed_coins, purchase.reversal_reason) == (
        "reversed",
        100,
        "refund",
    )
    assert history(alice) == [("purchase", 100), ("purchase_reversal", -100)]
    the_audit_entry(action="purchase.reverse", actor=None)
    assert_reconciles()


def test_the_same_reversal_again_moves_nothing(alice):
    purchase = bought(alice)
    reverse(purchase)

    assert reverse(purchase) == "duplicate"

    assert history(alice) == [("purchase", 100), ("purchase_reversal", -100)]
    outcomes = PaymentEvent.objects.order_by("id").values_list("outcome", flat=True)
    assert list(outcomes) == ["credited", "reversed", "duplicate"]


def test_partial_refunds_take_back_only_the_difference(alice):
    purchase = bought(alice, coins=100, price="10.00")

    assert reverse(purchase, amount="2.50") == "reversed"
    assert balance(alice) == 75
    assert reverse(purchase, amount="2.50") == "duplicate"
    assert reverse(purchase, amount="10.00") == "reversed"

    assert balance(alice) == 0
    assert history(alice) == [
        ("purchase", 100),
        ("purchase_reversal", -25),
        ("purchase_reversal", -75),
    ]
    assert_reconciles()


def test_a_reversal_in_another_currency_is_not_guessed(alice):
    purchase = bought(alice)

    assert reverse(purchase, currency="EUR") == "amount_mismatch"

    assert balance(alice) == 100


def test_a_reversal_of_a_purchase_never_credited_takes_nothing(alice):
    purchase = buy(alice)

    assert reverse(purchase) == "ignored"

    purchase.refresh_from_db()
    assert (purchase.status, balance(alice)) == ("pending", 0)


def test_a_success_or_failure_after_the_reversal_changes_nothing(alice):
    purchase = bought(alice)
    reverse(purchase)

    assert deliver(event(purchase)).json() == {"status": "duplicate"}
    assert deliver(event(purchase, "payment.failed")).json() == {"status": "ignored"}

    purchase.refresh_from_db()
    assert (purchase.status, balance(alice)) == ("reversed", 0)


def test_a_reversal_with_an_unknown_reason_is_refused(alice):
    purchase = bought(alice)

    response = deliver(event(purchase, "payment.reversed", reason="because"))

    assert_error(response, 400, "validation_error")
    assert balance(alice) == 100


# --- spent coins: owed, and the account restricted until settled -----------------------------


@pytest.fixture
def in_debt(alice: User) -> Purchase:
    """Alice bought 100 coins, spent 60 on a user-to-host gift long ago (outside the
    settlement window, so nothing is clawed back), and the purchase was refunded: she owes
    60."""
    purchase = bought(alice)
    spend_on(HostFactory.create(), alice, 60)
    Entry.objects.filter(type__in=["gift_sent", "gift_received"]).update(
        created_at=timezone.now() - timedelta(days=30)
    )
    Transaction.objects.filter(purchase=purchase).update(
        created_at=timezone.now() - timedelta(days=31)
    )
    reverse(purchase)
    return purchase


def test_what_was_spent_is_owed_and_the_books_still_balance(alice, in_debt):
    assert (balance(alice), owed(alice)) == (0, 60)
    assert history(alice)[-1] == ("purchase_reversal", -40)
    client = APIClient()
    client.force_authenticate(alice)
    assert client.get("/api/v1/wallet").json()["owed"] == 60
    assert_reconciles()
    assert ledger_check().receivables_total == -60


def test_owing_blocks_calls_and_gifts(alice, hana, in_debt):
    client = APIClient()
    client.force_authenticate(alice)
    fund(alice, 500)  # even with coins (a staff grant), spending waits for the debt

    body = assert_error(
        client.post("/api/v1/calls", {"callee_id": hana.pk}, format="json"),
        403,
        "account_restricted",
    )
    assert body["details"] == {"owed": 60}
    gift = GiftFactory.create(cost_coins=10)
    assert_error(
        client.post("/api/v1/gifts/send", {"to": hana.pk, "gift_id": gift.pk}, format="json"),
        403,
        "account_restricted",
    )
    assert balance(alice) == 500


def test_owing_blocks_withdrawals():
    host = HostFactory.create()
    purchase = bought(host, coins=1000)
    spend_on(HostFactory.create(), host, 1000)
    Entry.objects.filter(type__in=["gift_sent", "gift_received"]).update(
        created_at=timezone.now() - timedelta(days=30)
    )
    reverse(purchase)
    assert owed(host) == 1000
    earn(host, 5000)  # settled earnings she could otherwise withdraw

    with pytest.raises(AccountRestricted) as refused:
        withdrawal_request(user=host, coins=1000)

    assert refused.value.details == {"owed": 1000}
    assert balance(host) == 5000


def test_the_next_purchase_pays_the_debt_first(alice, hana, in_debt):
    bought(alice, coins=100, price="5.00")

    assert (balance(alice), owed(alice)) == (40, 0)
    assert history(alice)[-2:] == [("purchase", 100), ("purchase_reversal", -60)]
    spend_on(hana, alice, 10)  # no longer restricted
    assert_reconciles()


def test_a_small_purchase_pays_part_of_the_debt(alice, in_debt):
    bought(alice, coins=50, price="2.50")

    assert (balance(alice), owed(alice)) == (0, 10)
    assert_reconciles()


def test_staff_write_the_debt_off_with_a_reason(alice, in_debt, staff):
    assert debt_write_off(user=alice, reason="goodwill, first refund", by=staff) == 60

    assert (balance(alice), owed(alice)) == (0, 0)
    entry = AuditEntry.objects.get(action="wallet.debt_write_off")
    assert (entry.actor, entry.before, entry.after, entry.reason) == (
        staff,
        {"owed": 60},
        {"owed": 0},
        "goodwill, first refund",
    )
    assert debt_write_off(user=alice, reason="again", by=staff) == 0
    assert_reconciles()


# --- host earnings: clawed back inside the settlement window, kept after --------------------


def test_inside_the_window_the_host_gives_back_her_share(alice, hana):
    purchase = bought(alice)
    spend_on(hana, alice, 100)  # hana earns 50 (HOST_SHARE_PERCENT)
    assert balance(hana) == 50

    reverse(purchase)

    assert balance(hana) == 0
    assert history(hana) == [("gift_received", 50), ("purchase_reversal", -50)]
    # The platform's share of the spending is what alice still owes.
    assert (balance(alice), owed(alice)) == (0, 50)
    assert_reconciles()


def test_after_the_window_the_host_keeps_her_earnings(alice, hana, settings):
    purchase = bought(alice)
    spend_on(hana, alice, 100)
    old = timezone.now() - timedelta(days=settings.WITHDRAWAL_SETTLEMENT_DAYS + 1)
    Entry.objects.filter(type__in=["gift_sent", "gift_received"]).update(created_at=old)

    reverse(purchase)

    assert balance(hana) == 50
    assert wallet_withdrawable(user=hana) == 50
    assert (balance(alice), owed(alice)) == (0, 100)
    assert_reconciles()


def test_a_host_who_spent_her_share_gives_back_what_she_has(alice, hana, bob):
    purchase = bought(alice)
    spend_on(hana, alice, 100)
    other_host = HostFactory.create()
    spend_on(other_host, hana, 30)  # hana spends 30 of her 50

    reverse(purchase)

    assert balance(hana) == 0
    assert (balance(alice), owed(alice)) == (0, 80)
    assert_reconciles()


def test_clawed_back_earnings_never_count_as_withdrawable(alice, hana):
    earn(hana, 2000)
    purchase = bought(alice)
    spend_on(hana, alice, 100)
    reverse(purchase)

    settled = timezone.now() + timedelta(days=30)
    # Her earlier 2000 stay withdrawable; the 50 she earned and gave back never become so.
    assert wallet_withdrawable(user=hana, now=settled) == 2000
    assert json.loads(json.dumps(history(hana)))[-1] == ["purchase_reversal", -50]


# --- staff see debts in the admin and write them off -----------------------------------------


def test_a_superuser_writes_debts_off_from_the_wallet_list(alice, in_debt):
    root = logged_in(User.objects.create_superuser("root@example.com", "x", name="Root"))
    wallet = Wallet.objects.get(owner=alice)
    changelist = "/admin/wallet/wallet/"

    listed = root.get(changelist, {"owes": "yes"})
    assert listed.status_code == 200
    assert [row.pk for row in listed.context["cl"].result_list] == [wallet.pk]
    selected = {"action": "write_off_debts", "_selected_action": [wallet.pk]}
    page = root.post(changelist, selected)
    assert page.status_code == 200
    assert b"alice@example.com" in page.content and b"60" in page.content
    assert owed(alice) == 60  # nothing until confirmed

    root.post(changelist, {**selected, "post": "yes", "reason": ""})
    assert owed(alice) == 60  # a reason is required

    done = root.post(changelist, {**selected, "post": "yes", "reason": "goodwill"}, follow=True)
    assert b"Wrote off 60 coins owed by 1 user(s)." in done.content
    assert owed(alice) == 0
    root.post(changelist, {**selected, "post": "yes", "reason": "goodwill"})
    assert AuditEntry.objects.filter(action="wallet.debt_write_off").count() == 1


def test_finance_staff_see_debts_but_cannot_write_them_off(alice, in_debt):
    client = logged_in(StaffFactory.create(roles=[FINANCE]))
    assert client.get("/admin/wallet/wallet/", {"owes": "yes"}).status_code == 200
    wallet = Wallet.objects.get(owner=alice)
    selected = {"action": "write_off_debts", "_selected_action": [wallet.pk], "post": "yes"}

    client.post("/admin/wallet/wallet/", {**selected, "reason": "please"})

    assert owed(alice) == 60
