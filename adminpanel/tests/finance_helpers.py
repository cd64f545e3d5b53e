"""What the finance tests share: a staff member who may see finance, a day of money moving
through every path the exports and the dashboard read, and CSV answers parsed."""

import csv
import io
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from accounts.models import User
from calls.services import call_end
from calls.tests.billing_helpers import start_call
from gifts.models import GiftSend
from gifts.services import gift_send
from tests.factories import GiftFactory, UserFactory
from tests.helpers import fund
from wallet.purchases.models import Purchase
from wallet.tests.purchase_helpers import SANDBOX_SECRET, WEBHOOK, buy, event, sign
from wallet.withdrawals.models import Withdrawal
from wallet.withdrawals.services import withdrawal_approve, withdrawal_pay, withdrawal_request

# Figures of `money_day`: the host's rate and share, a gift's price.
CALL_RATE, HOST_SHARE, GIFT_COST, WITHDRAWN = 40, 50, 30, 25


def finance_staff(email: str = "fin@example.com") -> User:
    """An active staff member given `adminpanel.view_finance` directly (in production the
    `finance` group grants it); password tests.factories.PASSWORD."""
    user = UserFactory.create(email=email, name="Fin", role="staff", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="adminpanel", codename="view_finance")
    )
    return user


def pin_money_rules(settings: Any) -> None:
    """The rules `money_day` runs under, whatever .env says."""
    settings.PAYMENT_PROVIDERS = ["sandbox"]
    settings.PAYMENTS_SANDBOX_SECRET = SANDBOX_SECRET
    settings.PAYOUT_PROVIDER = "sandbox"
    settings.WITHDRAWAL_MIN_COINS = 1
    settings.WITHDRAWAL_AUTO_APPROVE_MAX_COINS = 0
    # The host withdraws what she earned the same day, and staff approve it at once.
    settings.WITHDRAWAL_SETTLEMENT_DAYS = 0
    settings.WITHDRAWAL_COOLING_OFF_HOURS = 0


@dataclass(frozen=True)
class MoneyDay:
    purchase: Purchase
    call_id: int
    gift: GiftSend
    withdrawal: Withdrawal


def money_day(*, payer: User, host: User, staff: User) -> MoneyDay:
    """`payer` is granted coins, buys 100 more (USD 4.99, credited by the provider's
    webhook), calls `host` for one period, sends her a gift; `host` withdraws part of what she
    earned, `staff` approve it and the sandbox pays it. Needs `pin_money_rules`."""
    fund(payer, 500)
    purchase = buy(payer, coins=100, price="4.99", currency="USD")
    body = event(purchase)
    answer = APIClient().post(
        WEBHOOK, body, content_type="application/json", HTTP_X_SIGNATURE=sign(body)
    )
    assert answer.status_code == 200, answer.content
    call = start_call(payer, host, rate=CALL_RATE, share=HOST_SHARE)
    call_end(call_id=call.pk, user=payer)
    gift = gift_send(
        sender=payer, to=host.pk, gift_id=GiftFactory.create(cost_coins=GIFT_COST).pk
    ).send
    withdrawal = withdrawal_request(user=host, coins=WITHDRAWN)
    withdrawal_approve(withdrawal_id=withdrawal.pk, staff=staff)
    withdrawal_pay(withdrawal_id=withdrawal.pk)
    purchase.refresh_from_db()
    withdrawal.refresh_from_db()
    assert purchase.status == Purchase.Status.CREDITED
    assert withdrawal.status == Withdrawal.Status.PAID
    return MoneyDay(purchase=purchase, call_id=call.pk, gift=gift, withdrawal=withdrawal)


def csv_rows(content: bytes) -> list[dict[str, str]]:
    """The rows of a CSV export, by header."""
    return list(csv.DictReader(io.StringIO(content.decode())))
