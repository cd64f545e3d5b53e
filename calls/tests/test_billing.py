"""Per-period billing: the split, exactly once, in order, low-balance warnings, the cut-off,
and call logs that match the ledger to the coin."""

from datetime import timedelta

import pytest
from django.utils import timezone

from calls.billing import billing_tick
from calls.charging import call_charge_period, low_balance_seconds_left
from calls.models import Call, CallStatus
from calls.tests.billing_helpers import (
    PERIOD,
    charge_keys,
    coins_paid,
    record_pushes,
    rewind,
    start_call,
)
from tests.factories import ActiveCallFactory, HostFactory, UserFactory
from tests.helpers import balance, fund
from videochat.errors import InsufficientFunds
from wallet.ledger.models import Entry, Wallet, WalletKind
from wallet.ledger.reconcile import ledger_check
from wallet.ledger.services import system_wallet_id, wallet_ensure

pytestmark = pytest.mark.django_db


def test_a_period_splits_rate_7_into_host_3_and_platform_4(alice, hana):
    fund(alice, 100)
    call = start_call(alice, hana, rate=7, share=50)
    rewind(call, PERIOD)

    report = billing_tick()

    assert (report.calls, report.charged, report.cut_off) == (1, 1, 0)
    assert (balance(alice), balance(hana)) == (100 - 14, 6)
    key = f"call:{call.pk}:minute:2"
    platform = system_wallet_id(kind=WalletKind.PLATFORM_REVENUE, key=key)
    entries = Entry.objects.filter(transaction__idempotency_key=key)
    assert sorted((e.wallet_id, e.type, e.amount, e.balance_after) for e in entries) == sorted(
        [
            (wallet_ensure(user_id=alice.pk), "call_charge", -7, 86),
            (wallet_ensure(user_id=hana.pk), "call_earning", 3, 6),
            (platform, "platform_fee", 4, Wallet.objects.get(pk=platform).balance),
        ]
    )
    call.refresh_from_db()
    assert (call.periods_charged, call.total_coins) == (2, 14)
    assert call.started_at is not None
    assert call.next_charge_at == call.started_at + timedelta(seconds=2 * PERIOD)
    assert ledger_check().ok


@pytest.mark.parametrize(("share", "host_gets"), [(0, 0), (100, 7)])
def test_a_zero_or_full_share_makes_a_two_leg_transfer(alice, hana, share, host_gets):
    fund(alice, 100)
    call = start_call(alice, hana, rate=7, share=share)
    rewind(call, PERIOD)
    billing_tick()

    key = f"call:{call.pk}:minute:2"
    assert Entry.objects.filter(transaction__idempotency_key=key).count() == 2
    assert balance(hana) == 2 * host_gets
    assert ledger_check().ok


def test_a_period_is_charged_once_and_only_as_the_next_one(alice, hana):
    fund(alice, 100)
    call = start_call(alice, hana)
    call_charge_period(call_id=call.pk, period=1)  # again: charged already
    call_charge_period(call_id=call.pk, period=3)  # out of order: 2 comes first
    assert charge_keys(call) == [f"call:{call.pk}:minute:1"]
    call_charge_period(call_id=call.pk, period=2)
    call_charge_period(call_id=call.pk, period=2)
    assert charge_keys(call) == [f"call:{call.pk}:minute:{n}" for n in (1, 2)]
    assert balance(alice) == 100 - 14

    Call.objects.filter(pk=call.pk).update(status=CallStatus.ENDED, next_charge_at=None)
    call_charge_period(call_id=call.pk, period=3)
    assert balance(alice) == 100 - 14


def test_accept_charge_refused_moves_nothing(alice, hana):
    fund(alice, 5)
    call = ActiveCallFactory.create(
        caller=alice, callee=hana, rate_per_minute=7, billing_period_seconds=PERIOD
    )
    with pytest.raises(InsufficientFunds):
        call_charge_period(call_id=call.pk, period=1)
    call.refresh_from_db()
    assert (call.periods_charged, call.total_coins, balance(alice)) == (0, 0, 5)
    assert charge_keys(call) == []


def test_a_tick_leaves_calls_whose_next_period_has_not_started(alice, hana, bob):
    fund(alice, 100)
    fund(bob, 100)
    due = start_call(alice, hana)
    rewind(due, PERIOD + 1)
    early = start_call(bob, HostFactory.create())
    rewind(early, PERIOD - 5)

    report = billing_tick()

    assert (report.calls, report.charged) == (1, 1)
    assert len(charge_keys(due)) == 2
    assert len(charge_keys(early)) == 1
    assert billing_tick().calls == 0


def test_overdue_periods_are_all_charged_in_order(alice, hana):
    # The workers were down for three and a half periods.
    fund(alice, 1000)
    call = start_call(alice, hana, rate=10)
    rewind(call, 3.5 * PERIOD)

    report = billing_tick()

    assert report.charged == 3
    assert charge_keys(call) == [f"call:{call.pk}:minute:{n}" for n in (1, 2, 3, 4)]
    caller_wallet = wallet_ensure(user_id=alice.pk)
    assert list(
        Entry.objects.filter(wallet_id=caller_wallet, type="call_charge")
        .order_by("id")
        .values_list("balance_after", flat=True)
    ) == [990, 980, 970, 960]
    call.refresh_from_db()
    assert (call.periods_charged, call.total_coins) == (4, 40)
    assert call.started_at is not None
    assert call.next_charge_at == call.started_at + timedelta(seconds=4 * PERIOD)
    assert billing_tick().charged == 0


def test_overdue_periods_stop_at_the_first_one_the_caller_cannot_pay(
    alice, hana, monkeypatch, django_capture_on_commit_callbacks
):
    pushes = record_pushes(monkeypatch)
    # Periods 2 and 3 are due; the caller can pay 2 only: 2 is charged, 3 cuts the call off
    # and nothing after it is charged.
    fund(alice, 25)
    call = start_call(alice, hana, rate=10)
    rewind(call, 2.5 * PERIOD)

    with django_capture_on_commit_callbacks(execute=True):
        report = billing_tick()

    assert (report.charged, report.cut_off) == (1, 1)
    assert charge_keys(call) == [f"call:{call.pk}:minute:{n}" for n in (1, 2)]
    assert balance(alice) == 5
    call.refresh_from_db()
    assert (call.status, call.end_reason) == ("ended", "insufficient_funds")
    assert (call.periods_charged, call.total_coins, call.next_charge_at) == (2, 20, None)
    ends = [data for user, kind, data in pushes if kind == "call:end"]
    assert len(ends) == 2
    assert ends[0]["reason"] == "insufficient_funds"
    assert ends[0]["total_coins"] == 20


def test_a_caller_who_cannot_pay_is_cut_off_without_a_partial_charge(
    alice, hana, monkeypatch, django_capture_on_commit_callbacks
):
    pushes = record_pushes(monkeypatch)
    fund(alice, 12)
    call = start_call(alice, hana, rate=7)  # 5 left: not enough for period 2
    rewind(call, PERIOD)
    pushes.clear()

    with django_capture_on_commit_callbacks(execute=True):
        report = billing_tick()

    assert (report.charged, report.cut_off) == (0, 1)
    assert (balance(alice), balance(hana)) == (5, 3)
    assert charge_keys(call) == [f"call:{call.pk}:minute:1"]
    call.refresh_from_db()
    assert (call.status, call.end_reason) == ("ended", "insufficient_funds")
    assert call.periods_charged == 1
    assert call.ended_at is not None
    assert sorted((user, kind) for user, kind, _ in pushes) == [
        (alice.pk, "call:end"),
        (hana.pk, "call:end"),
    ]
    assert billing_tick().calls == 0
    assert ledger_check().ok


def test_low_balance_is_warned_once_per_period_with_the_time_left(
    alice, hana, monkeypatch, django_capture_on_commit_callbacks
):
    pushes = record_pushes(monkeypatch)
    # rate 10: 45 coins pay periods 1-4 and leave 5.
    fund(alice, 45)
    call = start_call(alice, hana, rate=10)  # 35 left: three more periods, no warning
    rewind(call, PERIOD)
    with django_capture_on_commit_callbacks(execute=True):
        billing_tick()  # period 2: 25 left, two more, no warning
    assert [p for p in pushes if p[1] == "call:low_balance"] == []

    rewind(call, PERIOD)
    with django_capture_on_commit_callbacks(execute=True):
        billing_tick()  # period 3: 15 left, pays period 4 only: cut off when 5 is due
        billing_tick()  # nothing due: no second warning for period 3
    warnings = [(user, data) for user, kind, data in pushes if kind == "call:low_balance"]
    assert len(warnings) == 1
    user, data = warnings[0]
    assert user == alice.pk
    assert data["call_id"] == call.pk
    # Period 4 is due in one period from now (minus the moments the test took), 5 in two.
    assert 2 * PERIOD - 3 <= data["seconds_left"] <= 2 * PERIOD

    rewind(call, PERIOD)
    with django_capture_on_commit_callbacks(execute=True):
        billing_tick()  # period 4: 5 left, pays none: cut off when 5 is due
    sent = [data for _, kind, data in pushes if kind == "call:low_balance"]
    assert len(sent) == 2
    assert PERIOD - 3 <= sent[1]["seconds_left"] <= PERIOD
    call.refresh_from_db()
    assert call.low_balance_warned_period == 4


def test_low_balance_seconds_left_is_until_the_first_unpaid_period():
    now = timezone.now()

    def seconds_left(balance: int, due_in: float = 20) -> int | None:
        due = now + timedelta(seconds=due_in)
        return low_balance_seconds_left(
            balance=balance, rate=10, next_charge_at=due, period_seconds=60, now=now
        )

    assert seconds_left(20) is None  # pays two more periods
    assert seconds_left(19) == seconds_left(10) == 20 + 60  # pays the next one only
    assert seconds_left(9) == 20  # pays none
    assert seconds_left(0, due_in=-3) == 0  # the tick is late: now


def test_accept_warns_a_caller_who_can_pay_one_more_period(
    alice, hana, monkeypatch, django_capture_on_commit_callbacks
):
    pushes = record_pushes(monkeypatch)
    fund(alice, 15)
    with django_capture_on_commit_callbacks(execute=True):
        call = start_call(alice, hana, rate=7)
    [(user, data)] = [(u, d) for u, kind, d in pushes if kind == "call:low_balance"]
    assert user == alice.pk
    assert data["call_id"] == call.pk
    assert 2 * PERIOD - 2 <= data["seconds_left"] <= 2 * PERIOD


def test_the_tick_pushes_each_party_its_new_balance_once(
    alice, hana, monkeypatch, django_capture_on_commit_callbacks
):
    pushes = record_pushes(monkeypatch)
    fund(alice, 100)
    call = start_call(alice, hana, rate=10)
    rewind(call, 2 * PERIOD)  # periods 2 and 3 due
    pushes.clear()
    with django_capture_on_commit_callbacks(execute=True):
        billing_tick()
    balances = [(user, data) for user, kind, data in pushes if kind == "wallet:balance"]
    assert sorted(balances) == sorted([(alice.pk, {"balance": 70}), (hana.pk, {"balance": 15})])


def test_call_log_matches_the_ledger_to_the_coin():
    callers = UserFactory.create_batch(3)
    hosts = HostFactory.create_batch(3)
    for caller, coins in zip(callers, (1000, 40, 13), strict=True):
        fund(caller, coins)
    terms = [(13, 50), (10, 35), (13, 70)]
    calls = [
        start_call(caller, host, rate=rate, share=share)
        for caller, host, (rate, share) in zip(callers, hosts, terms, strict=True)
    ]
    for _ in range(4):
        for call in calls:
            rewind(call, PERIOD)
        billing_tick()

    for call in Call.objects.filter(pk__in=[c.pk for c in calls]):
        keys = charge_keys(call)
        assert keys == [f"call:{call.pk}:minute:{n}" for n in range(1, len(keys) + 1)]
        assert call.periods_charged == len(keys)
        assert call.total_coins == coins_paid(call) == call.periods_charged * call.rate_per_minute
        host_earned = Entry.objects.filter(
            transaction__reference=f"call:{call.pk}", wallet__owner_id=call.callee_id
        ).values_list("amount", flat=True)
        assert sum(host_earned) == call.periods_charged * (
            call.rate_per_minute * call.host_share_percent // 100
        )
    rich, poor, broke = Call.objects.filter(pk__in=[c.pk for c in calls]).order_by("pk")
    assert (rich.status, rich.periods_charged, rich.ended_at) == ("active", 5, None)
    assert (poor.status, poor.end_reason) == ("ended", "insufficient_funds")
    assert poor.periods_charged == 4
    assert (broke.status, broke.periods_charged) == ("ended", 1)
    for ended in (poor, broke):
        assert ended.started_at is not None and ended.ended_at is not None
        assert ended.duration_seconds == int((ended.ended_at - ended.started_at).total_seconds())
        # Cut off at the first unpaid period, which started `periods_charged` periods in.
        assert ended.duration_seconds >= ended.periods_charged * PERIOD
    assert ledger_check().ok


def test_a_period_found_in_the_ledger_is_not_charged_again(alice, hana):
    # The ledger already has period 2 (as if a charge committed and the call row did not
    # move, which one transaction rules out): the key stops a second charge, the call moves on.
    fund(alice, 100)
    call = start_call(alice, hana, rate=10)
    call_charge_period(call_id=call.pk, period=2)
    assert call.started_at is not None
    Call.objects.filter(pk=call.pk).update(
        periods_charged=1, total_coins=10, next_charge_at=call.started_at + timedelta(seconds=60)
    )
    rewind(call, PERIOD)

    report = billing_tick()

    assert report.charged == 1
    assert balance(alice) == 80
    assert charge_keys(call) == [f"call:{call.pk}:minute:{n}" for n in (1, 2)]
    call.refresh_from_db()
    assert (call.periods_charged, call.total_coins) == (2, 20)


def test_many_calls_bill_in_several_batches():
    callers = UserFactory.create_batch(7)
    hosts = HostFactory.create_batch(7)
    calls = []
    for caller, host in zip(callers, hosts, strict=True):
        fund(caller, 100)
        calls.append(start_call(caller, host, rate=10))
        rewind(calls[-1], PERIOD)

    report = billing_tick(batch_size=3)

    assert (report.calls, report.charged, report.batches) == (7, 7, 3)
    assert all(len(charge_keys(call)) == 2 for call in calls)
    assert ledger_check().ok
