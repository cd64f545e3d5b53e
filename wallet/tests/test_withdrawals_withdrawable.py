"""What a host may withdraw (`withdrawable`, docs/withdrawals.md): only coins she earned, once
settled, less what she cashed out; bought coins never; spending eats bought coins first.
Shown in GET /wallet, enforced by POST /withdrawals (402 beyond it)."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from tests.factories import HostFactory
from tests.helpers import assert_error, balance, earn, fund
from wallet.ledger.models import EntryType, Transaction, TransactionKind
from wallet.ledger.selectors import wallet_withdrawable
from wallet.ledger.services import Leg, wallet_ensure, wallet_transfer
from wallet.tests.purchase_helpers import WEBHOOK, buy, event, sign
from wallet.tests.withdrawal_helpers import WITHDRAWALS
from wallet.withdrawals.models import Withdrawal
from wallet.withdrawals.services import withdrawal_reject, withdrawal_request

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("withdrawal_rules")]

WALLET = "/api/v1/wallet"
SETTLEMENT_DAYS = 7


@pytest.fixture(autouse=True)
def settlement_window(settings):
    settings.WITHDRAWAL_SETTLEMENT_DAYS = SETTLEMENT_DAYS


def spend(host: User, coins: int, key: str) -> None:
    """`host` spends `coins` on another host (a gift)."""
    other = HostFactory.create()
    wallet_transfer(
        kind=TransactionKind.GIFT,
        idempotency_key=key,
        legs=[
            Leg(wallet_ensure(user_id=host.pk), -coins, EntryType.GIFT_SENT),
            Leg(wallet_ensure(user_id=other.pk), coins, EntryType.GIFT_RECEIVED),
        ],
    )


@pytest.mark.usefixtures("payment_sandbox")
def test_bought_coins_are_not_withdrawable(api, client_for, hana):
    purchase = buy(hana, coins=6500)
    body = event(purchase)
    credited = api.post(
        WEBHOOK, body, content_type="application/json", headers={"X-Signature": sign(body)}
    )
    assert credited.status_code == 200
    assert balance(hana) == 6500

    wallet = client_for(hana).get(WALLET).json()
    response = client_for(hana).post(WITHDRAWALS, {"coins": 5000}, format="json")

    assert (wallet["balance"], wallet["withdrawable"]) == (6500, 0)
    error = assert_error(response, 402, "insufficient_funds")
    assert error["details"] == {"withdrawable": 0, "needed": 5000}
    assert not Withdrawal.objects.exists()
    assert not Transaction.objects.filter(kind="withdrawal").exists()
    assert balance(hana) == 6500


def test_granted_coins_are_not_withdrawable(hana):
    fund(hana, 5000)

    assert wallet_withdrawable(user=hana) == 0


def test_earnings_settle_after_the_window(client_for, hana):
    earn(hana, 3000, days_ago=SETTLEMENT_DAYS + 0.01)
    earn(hana, 2000, days_ago=SETTLEMENT_DAYS - 0.01)

    wallet = client_for(hana).get(WALLET).json()
    too_much = client_for(hana).post(WITHDRAWALS, {"coins": 3001}, format="json")
    settled = client_for(hana).post(WITHDRAWALS, {"coins": 3000}, format="json")

    assert (wallet["balance"], wallet["withdrawable"]) == (5000, 3000)
    assert_error(too_much, 402, "insufficient_funds")
    assert settled.status_code == 201, settled.content
    assert balance(hana) == 2000


def test_gifts_received_are_earnings_too(hana, alice):
    fund(alice, 1000)
    wallet_transfer(
        kind=TransactionKind.GIFT,
        idempotency_key="gift",
        legs=[
            Leg(wallet_ensure(user_id=alice.pk), -1000, EntryType.GIFT_SENT),
            Leg(wallet_ensure(user_id=hana.pk), 1000, EntryType.GIFT_RECEIVED),
        ],
    )

    assert wallet_withdrawable(user=hana) == 0  # not settled yet
    assert wallet_withdrawable(user=hana, now=_days_later(SETTLEMENT_DAYS + 1)) == 1000


def _days_later(days: int) -> datetime:
    return timezone.now() + timedelta(days=days)


def test_held_and_paid_coins_count_refunds_come_back(hana, staff):
    earn(hana, 5000)

    held = withdrawal_request(user=hana, coins=2000)
    assert wallet_withdrawable(user=hana) == 3000

    withdrawal_reject(withdrawal_id=held.pk, staff=staff, reason="Check your details")
    assert wallet_withdrawable(user=hana) == 5000

    withdrawal_request(user=hana, coins=5000)
    assert (balance(hana), wallet_withdrawable(user=hana)) == (0, 0)
    earn(hana, 1500)
    assert wallet_withdrawable(user=hana) == 1500


def test_spending_draws_on_bought_coins_first(hana):
    earn(hana, 3000)
    fund(hana, 2000)  # not earned

    spend(hana, 1500, "first")
    assert (balance(hana), wallet_withdrawable(user=hana)) == (3500, 3000)

    spend(hana, 1000, "second")  # 500 beyond the coins she did not earn
    assert (balance(hana), wallet_withdrawable(user=hana)) == (2500, 2500)


def test_users_have_nothing_withdrawable(client_for, alice):
    earn(alice, 3000)  # even if a user's wallet had earnings, only hosts cash out

    wallet = client_for(alice).get(WALLET).json()

    assert (wallet["balance"], wallet["withdrawable"]) == (3000, 0)


def test_a_host_with_no_entries_has_nothing_withdrawable(client_for, hana):
    wallet = client_for(hana).get(WALLET).json()

    assert (wallet["balance"], wallet["withdrawable"]) == (0, 0)
