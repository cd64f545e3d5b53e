"""The figures of the finance dashboard: one SQL aggregate per series, grouped by UTC day,
each read through the ledger's `entry_type_created` index (type, created_at, with the amount,
wallet and transaction in the index), so a series reads only its own entries of the range.
bench/finance.py times each one at 1,000,000 ledger rows."""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from typing import Any

from django.db.models import F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from accounts.models import User
from adminpanel.finance.period import Period
from calls.models import Call, CallStatus
from wallet.ledger.models import Entry, EntryType

# Rows of `.values(...).annotate(...)`: dicts with the day (or wallet) and the sums.
DayRows = QuerySet[Entry, Any]

TOP_HOSTS = 10
EARNINGS = [EntryType.CALL_EARNING, EntryType.GIFT_RECEIVED]


def _entries(period: Period, *types: EntryType) -> QuerySet[Entry]:
    return Entry.objects.filter(
        type__in=types, created_at__gte=period.start, created_at__lt=period.end
    )


def _per_day(entries: QuerySet[Entry]) -> DayRows:
    return (
        entries.annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day")
        .annotate(total=Sum("amount"))
        .order_by("day")
    )


def purchases_per_day(period: Period) -> DayRows:
    """Coins bought and money received, per day and currency (the purchase's price as sold)."""
    return (
        _entries(period, EntryType.PURCHASE)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", currency=F("transaction__purchase__currency"))
        .annotate(coins=Sum("amount"), money=Sum("transaction__purchase__price"))
        .order_by("day", "currency")
    )


def calls_spent_per_day(period: Period) -> DayRows:
    """Coins callers paid for call minutes (negative: they left the callers' wallets)."""
    return _per_day(_entries(period, EntryType.CALL_CHARGE))


def gifts_spent_per_day(period: Period) -> DayRows:
    """Coins senders paid for gifts (negative)."""
    return _per_day(_entries(period, EntryType.GIFT_SENT))


def host_earnings_per_day(period: Period) -> DayRows:
    """The hosts' share of calls and gifts."""
    return _per_day(_entries(period, *EARNINGS))


def platform_revenue_per_day(period: Period) -> DayRows:
    """The platform's share of calls and gifts."""
    return _per_day(_entries(period, EntryType.PLATFORM_FEE))


def withdrawals_paid_per_day(period: Period) -> DayRows:
    """Coins paid out to hosts (the payouts wallet's side of each payout)."""
    return _per_day(_entries(period, EntryType.WITHDRAWAL_PAYOUT).filter(amount__gt=0))


def top_hosts(period: Period) -> DayRows:
    """The TOP_HOSTS wallets that earned most in the period, with earnings by source."""
    return (
        _entries(period, *EARNINGS)
        .values("wallet_id")
        .annotate(
            total=Sum("amount"),
            calls=Sum("amount", filter=Q(type=EntryType.CALL_EARNING)),
            gifts=Sum("amount", filter=Q(type=EntryType.GIFT_RECEIVED)),
        )
        .order_by("-total", "wallet_id")[:TOP_HOSTS]
    )


# Series of coins per day: (name, query, sign that makes them positive on the chart).
COIN_SERIES: dict[str, tuple[Callable[[Period], DayRows], int]] = {
    "calls_spent": (calls_spent_per_day, -1),
    "gifts_spent": (gifts_spent_per_day, -1),
    "host_earnings": (host_earnings_per_day, 1),
    "platform_revenue": (platform_revenue_per_day, 1),
    "withdrawals_paid": (withdrawals_paid_per_day, 1),
}


@dataclass(frozen=True)
class TopHost:
    user_id: int | None
    email: str
    name: str
    calls: int
    gifts: int
    total: int


@dataclass(frozen=True)
class Overview:
    period: Period
    # Coins per day, one list per series (COIN_SERIES and "purchased"), aligned on period.days.
    coins: dict[str, list[int]]
    # Money received per day, per currency.
    money: dict[str, list[Decimal]]
    active_calls: int
    top_hosts: list[TopHost]

    def total(self, series: str) -> int:
        return sum(self.coins[series])

    def money_totals(self) -> dict[str, Decimal]:
        return {currency: sum(values, Decimal(0)) for currency, values in self.money.items()}


def finance_overview(period: Period) -> Overview:
    """Every figure of the dashboard for `period`."""
    days = period.days
    index = {day: n for n, day in enumerate(days)}
    coins: dict[str, list[int]] = {}
    purchased = [0] * len(days)
    money: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * len(days))
    for row in purchases_per_day(period):
        purchased[index[row["day"]]] += row["coins"]
        money[row["currency"] or "?"][index[row["day"]]] += row["money"] or Decimal(0)
    coins["purchased"] = purchased
    for name, (query, sign) in COIN_SERIES.items():
        values = [0] * len(days)
        for row in query(period):
            values[index[row["day"]]] = sign * row["total"]
        coins[name] = values
    return Overview(
        period=period,
        coins=coins,
        money=dict(sorted(money.items())),
        active_calls=Call.objects.filter(status=CallStatus.ACTIVE).count(),
        top_hosts=_top_hosts_named(period),
    )


def _top_hosts_named(period: Period) -> list[TopHost]:
    rows = list(top_hosts(period))
    owners = {
        wallet_id: (user_id, email, name)
        for wallet_id, user_id, email, name in User.objects.filter(
            wallet__id__in=[row["wallet_id"] for row in rows]
        ).values_list("wallet__id", "id", "email", "name")
    }
    hosts = []
    for row in rows:
        user_id, email, name = owners.get(row["wallet_id"], (None, "?", "?"))
        hosts.append(
            TopHost(
                user_id=user_id,
                email=email,
                name=name,
                calls=row["calls"] or 0,
                gifts=row["gifts"] or 0,
                total=row["total"],
            )
        )
    return hosts
