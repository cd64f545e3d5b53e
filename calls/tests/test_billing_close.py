"""A period that has started is paid when the call closes (API.md, Calls: "a minute that has
started is paid even when the call ends a moment later"): a hang-up, a disconnect end or a
cut-off charges every started period the tick has not, within the caller's balance, exactly
once even against a tick running at the same moment."""

import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.services import user_deactivate
from calls.billing import billing_tick
from calls.charging import call_charge_period
from calls.models import Call
from calls.services import call_end, call_end_disconnected
from calls.tests.billing_helpers import (
    PERIOD,
    charge_keys,
    coins_paid,
    pin_clock,
    record_pushes,
    rewind,
    start_call,
)
from gifts.services import gift_send
from tests.factories import GiftFactory, HostFactory, UserFactory
from tests.helpers import balance, fund
from tests.threads import each_at_once
from videochat.errors import Conflict
from wallet.ledger.models import Entry, Transaction
from wallet.ledger.reconcile import ledger_check
from wallet.ledger.services import wallet_ensure


def keys(call: Call, periods: int) -> list[str]:
    return [f"call:{call.pk}:minute:{n}" for n in range(1, periods + 1)]


def assert_log_matches_ledger(call: Call) -> None:
    call.refresh_from_db()
    # Sorted: a batch claims its keys in key order ("minute:10" before "minute:2"); the
    # entries are what is in the order of the charges.
    assert sorted(charge_keys(call)) == sorted(keys(call, call.periods_charged))
    assert call.total_coins == coins_paid(call) == call.periods_charged * call.rate_per_minute
    report = ledger_check()
    assert report.ok, report.text()


@pytest.mark.django_db
def test_a_hang_up_just_after_a_period_began_pays_that_period(
    alice, hana, client_for, monkeypatch, django_capture_on_commit_callbacks
):
    # 3 s periods: accept paid period 1 at 0 s, the tick at 5 s paid period 2 (begun at 3 s),
    # period 3 began at 6 s, and the caller hangs up at 6.4 s, before the next tick.
    pushes = record_pushes(monkeypatch)
    fund(alice, 100)
    pin_clock(monkeypatch)
    call = start_call(alice, hana, rate=10, period=3)
    rewind(call, 5)
    assert billing_tick().charged == 1
    rewind(call, 1.4)
    pushes.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(alice).post(f"/api/v1/calls/{call.pk}/end")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["end_reason"]) == ("ended", "hangup")
    assert (body["duration_seconds"], body["periods_charged"], body["total_coins"]) == (6, 3, 30)
    assert (balance(alice), balance(hana)) == (70, 15)
    ends = sorted((user, data) for user, kind, data in pushes if kind == "call:end")
    assert [user for user, _ in ends] == sorted([alice.pk, hana.pk])
    for _, data in ends:
        assert (data["reason"], data["duration_seconds"], data["total_coins"]) == ("hangup", 6, 30)
    balances = {user: data["balance"] for user, kind, data in pushes if kind == "wallet:balance"}
    assert balances == {alice.pk: 70, hana.pk: 15}
    assert_log_matches_ledger(call)


@pytest.mark.django_db
def test_with_the_workers_down_a_hang_up_pays_every_period_that_began(alice, hana):
    # No tick ran at all: 10.5 periods talked, periods 2 to 11 are paid at the hang-up, in
    # order, each under its own key.
    fund(alice, 1000)
    call = start_call(alice, hana, rate=10)
    rewind(call, 10.5 * PERIOD)

    ended = call_end(call_id=call.pk, user=alice)

    assert (ended.status, ended.end_reason) == ("ended", "hangup")
    assert (ended.periods_charged, ended.total_coins, ended.next_charge_at) == (11, 110, None)
    assert ended.duration_seconds >= 10.5 * PERIOD
    assert list(
        Entry.objects.filter(wallet_id=wallet_ensure(user_id=alice.pk), type="call_charge")
        .order_by("id")
        .values_list("balance_after", flat=True)
    ) == list(range(990, 880, -10))
    assert balance(hana) == 55
    assert_log_matches_ledger(call)
    assert billing_tick().calls == 0


@pytest.mark.django_db
def test_a_hang_up_pays_only_the_started_periods_the_caller_can_pay(
    alice, hana, monkeypatch, django_capture_on_commit_callbacks
):
    # Periods 1 to 5 have begun; 35 coins pay periods 1 to 3. The host hangs up: periods 2
    # and 3 are paid, 4 is not (and nothing after it), and the call ended by a hang-up.
    pushes = record_pushes(monkeypatch)
    fund(alice, 35)
    call = start_call(alice, hana, rate=10)
    rewind(call, 4.5 * PERIOD)
    pushes.clear()

    with django_capture_on_commit_callbacks(execute=True):
        ended = call_end(call_id=call.pk, user=hana)

    assert (ended.status, ended.end_reason, ended.ended_by_id) == ("ended", "hangup", hana.pk)
    assert (ended.periods_charged, ended.total_coins) == (3, 30)
    assert balance(alice) == 5
    assert charge_keys(call) == keys(call, 3)
    assert not Transaction.objects.filter(idempotency_key=f"call:{call.pk}:minute:4").exists()
    ends = [data for _, kind, data in pushes if kind == "call:end"]
    assert [(d["reason"], d["total_coins"]) for d in ends] == [("hangup", 30)] * 2
    # The call is over: no warning that the coins run out.
    assert [kind for _, kind, _ in pushes if kind == "call:low_balance"] == []
    assert_log_matches_ledger(call)


@pytest.mark.django_db
def test_a_disconnect_end_pays_every_period_that_began(alice, hana):
    # Neither party has a socket: the first check starts the grace, the one after it ends
    # the call, which had talked 2.5 periods with only period 1 paid.
    fund(alice, 100)
    call = start_call(alice, hana, rate=10)
    rewind(call, 2.5 * PERIOD)
    now = timezone.now()
    grace = timedelta(seconds=settings.CALL_DISCONNECT_GRACE_SECONDS)
    assert call_end_disconnected(now=now) == 0

    assert call_end_disconnected(now=now + grace + timedelta(seconds=1)) == 1

    call.refresh_from_db()
    assert (call.status, call.end_reason) == ("ended", "disconnected")
    assert (call.periods_charged, call.total_coins) == (3, 30)
    assert balance(alice) == 70
    assert_log_matches_ledger(call)


@pytest.mark.django_db
def test_a_ban_pays_every_period_that_began(alice, hana):
    # Deactivating the caller 2.5 periods into the call ends it as `banned`, billed up to then.
    fund(alice, 100)
    call = start_call(alice, hana, rate=10)
    rewind(call, 2.5 * PERIOD)

    user_deactivate(user=alice)

    call.refresh_from_db()
    assert (call.status, call.end_reason, call.ended_by_id) == ("ended", "banned", alice.pk)
    assert (call.periods_charged, call.total_coins) == (3, 30)
    assert balance(alice) == 70
    assert_log_matches_ledger(call)


@pytest.mark.django_db
def test_a_cut_off_pays_the_started_periods_the_caller_can_pay(
    alice, hana, monkeypatch, django_capture_on_commit_callbacks
):
    # At the tick, 2.5 periods in, periods 2 and 3 have begun; 25 coins pay periods 1 and 2.
    # Period 2 is paid, 3 is not, and the call ends then, for insufficient funds.
    pushes = record_pushes(monkeypatch)
    fund(alice, 25)
    call = start_call(alice, hana, rate=10)
    assert call.started_at is not None
    tick_at = call.started_at + 2.5 * timedelta(seconds=PERIOD)

    with django_capture_on_commit_callbacks(execute=True):
        report = billing_tick(now=tick_at)

    assert (report.charged, report.cut_off) == (1, 1)
    call.refresh_from_db()
    assert (call.status, call.end_reason, call.ended_at) == ("ended", "insufficient_funds", tick_at)
    assert (call.duration_seconds, call.periods_charged, call.total_coins) == (150, 2, 20)
    assert balance(alice) == 5
    assert not Transaction.objects.filter(idempotency_key=f"call:{call.pk}:minute:3").exists()
    ends = [data for _, kind, data in pushes if kind == "call:end"]
    assert [(d["reason"], d["duration_seconds"], d["total_coins"]) for d in ends] == [
        ("insufficient_funds", 150, 20)
    ] * 2
    assert_log_matches_ledger(call)


@pytest.mark.django_db
def test_a_replayed_close_charges_nothing_more(alice, hana):
    fund(alice, 100)
    call = start_call(alice, hana, rate=10)
    rewind(call, 1.5 * PERIOD)
    call_end(call_id=call.pk, user=alice)
    assert balance(alice) == 80

    with pytest.raises(Conflict):
        call_end(call_id=call.pk, user=alice)
    with pytest.raises(Conflict):
        call_end(call_id=call.pk, user=hana)
    assert call_end_disconnected(now=timezone.now() + timedelta(hours=1)) == 0
    assert billing_tick().calls == 0
    call_charge_period(call_id=call.pk, period=3)

    assert balance(alice) == 80
    call.refresh_from_db()
    assert (call.status, call.end_reason, call.periods_charged) == ("ended", "hangup", 2)
    assert_log_matches_ledger(call)


@pytest.mark.django_db
def test_a_period_found_in_the_ledger_is_not_charged_again_at_the_close(alice, hana):
    # The ledger has period 2 but the call row does not (one transaction rules that out):
    # the key makes the close's charge of period 2 a replay, the call log moves on.
    fund(alice, 100)
    call = start_call(alice, hana, rate=10)
    call_charge_period(call_id=call.pk, period=2)
    Call.objects.filter(pk=call.pk).update(periods_charged=1, total_coins=10)
    rewind(call, 1.5 * PERIOD)

    ended = call_end(call_id=call.pk, user=alice)

    assert (ended.periods_charged, ended.total_coins) == (2, 20)
    assert balance(alice) == 80
    assert_log_matches_ledger(call)


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
@pytest.mark.parametrize("attempt", range(3))
def test_hang_ups_racing_a_tick_charge_each_period_once(attempt):
    # Periods 2 to 4 of every call have begun and none is paid. A tick (small batches, so
    # it holds some calls while the hang-ups hold others) and every party's hang-up at the
    # same moment: each period is paid once, by one of them, and nothing deadlocks.
    calls = []
    for caller, host in zip(UserFactory.create_batch(6), HostFactory.create_batch(6), strict=True):
        fund(caller, 100)
        call = start_call(caller, host, rate=10)
        rewind(call, 3.5 * PERIOD)
        calls.append(call)

    def hang_up(call: Call) -> Call:
        return call_end(call_id=call.pk, user=call.caller)

    results = each_at_once(
        lambda: billing_tick(batch_size=2),
        *[lambda call=call: hang_up(call) for call in calls],
    )

    assert all(isinstance(ended, Call) for ended in results[1:])
    for call in calls:
        call.refresh_from_db()
        assert (call.status, call.end_reason) == ("ended", "hangup")
        assert charge_keys(call) == keys(call, 4)
        assert (call.periods_charged, call.total_coins) == (4, 40)
        assert balance(call.caller) == 60
    report = ledger_check()
    assert report.ok, report.text()


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_a_hang_up_and_a_gift_in_the_call_at_once_both_succeed():
    # A gift sent in the call holds both parties' wallets until it commits, and at commit
    # takes a KEY SHARE lock on the call row (its foreign key). The hang-up locks the call
    # row, then the wallets to pay period 2. Had the hang-up's row lock conflicted with KEY
    # SHARE, each would wait for the other: PostgreSQL would kill one as a deadlock.
    caller, host = UserFactory.create(), HostFactory.create()
    fund(caller, 100)
    call = start_call(caller, host, rate=10)
    rewind(call, 1.5 * PERIOD)
    rose = GiftFactory.create(name="Rose", cost_coins=5)
    gift_holds_wallets, hang_up_started = threading.Event(), threading.Event()

    def gift() -> Call | None:
        with transaction.atomic():
            gift_send(sender=caller, to=host.pk, gift_id=rose.pk, call_id=call.pk)
            gift_holds_wallets.set()
            assert hang_up_started.wait(10)
            time.sleep(0.5)  # the hang-up now holds the call and waits for the wallets
        return None

    def hang_up() -> Call | None:
        assert gift_holds_wallets.wait(10)
        hang_up_started.set()
        return call_end(call_id=call.pk, user=caller)

    gift_result, ended = each_at_once(gift, hang_up)

    assert gift_result is None
    assert isinstance(ended, Call)
    assert (ended.status, ended.periods_charged, ended.total_coins) == ("ended", 2, 20)
    assert balance(caller) == 100 - 20 - 5
    assert_log_matches_ledger(call)
