"""The finance dashboard (/admin/finance/): its figures come from the ledger, one query per
series; only staff with the finance permission see it."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from adminpanel.finance.dashboard import finance_overview
from adminpanel.finance.period import Period
from adminpanel.tests.finance_helpers import (
    CALL_RATE,
    GIFT_COST,
    HOST_SHARE,
    WITHDRAWN,
    MoneyDay,
    finance_staff,
    money_day,
    pin_money_rules,
)
from tests.factories import ActiveCallFactory, UserFactory

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/finance/"


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def fin() -> User:
    return finance_staff()


@pytest.fixture
def day(settings, alice, hana, fin) -> MoneyDay:
    pin_money_rules(settings)
    return money_day(payer=alice, host=hana, staff=fin)


def this_month() -> Period:
    today = timezone.now().date()
    return Period(today - timedelta(days=29), today)


def test_the_figures_are_the_ledgers(day, hana, django_assert_num_queries):
    ActiveCallFactory.create()
    period = this_month()

    # One query per series (purchases with money, five coin series), active calls, and the
    # top hosts with their names.
    with django_assert_num_queries(9):
        overview = finance_overview(period)

    host_coins = CALL_RATE * HOST_SHARE // 100 + GIFT_COST * HOST_SHARE // 100
    today = period.days.index(timezone.now().date())
    expected = {
        "purchased": 100,
        "calls_spent": CALL_RATE,
        "gifts_spent": GIFT_COST,
        "host_earnings": host_coins,
        "platform_revenue": CALL_RATE + GIFT_COST - host_coins,
        "withdrawals_paid": WITHDRAWN,
    }
    for series, coins in expected.items():
        assert overview.coins[series][today] == coins, series
        assert overview.total(series) == coins, series
        assert len(overview.coins[series]) == 30
    assert overview.money == {"USD": [Decimal(0)] * today + [Decimal("4.99")]}
    assert overview.active_calls == 1
    [top] = overview.top_hosts
    assert (top.user_id, top.email, top.total) == (hana.pk, hana.email, host_coins)
    assert (top.calls, top.gifts) == (CALL_RATE * HOST_SHARE // 100, GIFT_COST * HOST_SHARE // 100)


def test_a_day_outside_the_range_counts_nothing(day):
    yesterday = timezone.now().date() - timedelta(days=1)
    overview = finance_overview(Period(yesterday - timedelta(days=6), yesterday))
    assert all(total == 0 for total in map(overview.total, overview.coins))
    assert overview.money == {} and overview.top_hosts == []


def test_the_page_draws_the_charts_with_data(day, fin):
    response = logged_in(fin).get(DASHBOARD)

    assert response.status_code == 200
    content = response.content.decode()
    assert content.count('<svg class="finance-chart"') == 6  # five coin charts, one currency
    assert content.count('<rect class="bar"') == 7  # today's bar in each; two series spent
    assert "Money received per day (USD)" in content
    # Each chart names its first, middle and last day under the bars.
    first, last = this_month().first.isoformat(), this_month().last.isoformat()
    assert content.count(f'text-anchor="start" fill="#666">{first}</text>') == 6
    assert content.count(f'text-anchor="end" fill="#666">{last}</text>') == 6
    assert 'id="top-hosts"' in content and "hana@example.com" in content
    assert "<script" not in content.split('id="content-main"')[1]  # drawn on the server
    assert 'href="/adminpanel/exports/' not in content  # the exports are a form
    assert 'formaction="/adminpanel/exports/transactions.csv"' in content


def test_a_chosen_range(day, fin):
    today = timezone.now().date()
    params = {"from": (today - timedelta(days=6)).isoformat(), "to": today.isoformat()}
    response = logged_in(fin).get(DASHBOARD, params)
    assert response.status_code == 200
    assert response.context["period"] == Period(today - timedelta(days=6), today)


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-03-02", "to": "2026-03-01"},
        {"from": "2025-01-01", "to": "2026-03-01"},  # more than 366 days
        {"from": "yesterday"},
    ],
)
def test_a_bad_range_is_said_and_the_last_30_days_shown(fin, params):
    response = logged_in(fin).get(DASHBOARD, params)
    assert response.status_code == 400
    assert 'class="errornote"' in response.content.decode()
    assert response.context["period"] == this_month()


def test_staff_without_the_permission_are_refused():
    staff = UserFactory.create(role="staff", is_staff=True)
    assert logged_in(staff).get(DASHBOARD).status_code == 403


@pytest.mark.parametrize("who", ["anonymous", "user"])
def test_others_are_sent_to_the_admin_login(alice, who):
    client = logged_in(alice) if who == "user" else Client()
    response = client.get(DASHBOARD)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/admin/finance/")
