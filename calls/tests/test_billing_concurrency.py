"""Billing is exactly once under concurrency and failure: ticks running at once split the
calls, a tick that dies half way leaves its open batch uncommitted and the next tick charges
it once, and a process killed mid-batch (SIGKILL, not an exception) loses nothing either."""

import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import pytest
from django.db import connections, transaction
from django.utils import timezone

from calls import billing, charging
from calls.billing import billing_tick
from calls.models import Call
from calls.tests.billing_helpers import PERIOD, charge_keys, rewind, start_call
from gifts.services import gift_send
from tests.factories import GiftFactory, HostFactory, UserFactory
from tests.helpers import balance, fund
from tests.servers import ROOT, server_env
from wallet.ledger.models import Transaction
from wallet.ledger.reconcile import ledger_check

pytestmark = pytest.mark.django_db(transaction=True)


def due_calls(count: int, *, coins: int = 100, rate: int = 10) -> list[Call]:
    """`count` active calls with period 1 paid and period 2 due now."""
    calls = []
    for caller, host in zip(
        UserFactory.create_batch(count), HostFactory.create_batch(count), strict=True
    ):
        fund(caller, coins)
        call = start_call(caller, host, rate=rate)
        rewind(call, PERIOD)
        calls.append(call)
    return calls


def assert_charged_once(calls: list[Call], periods: int) -> None:
    for call in calls:
        assert charge_keys(call) == [f"call:{call.pk}:minute:{n}" for n in range(1, periods + 1)]
        call.refresh_from_db()
        assert call.periods_charged == periods
        assert balance(call.caller) == 100 - periods * 10
    report = ledger_check()
    assert report.ok, report.text()


def test_ticks_running_at_once_charge_every_due_period_once():
    calls = due_calls(40)
    for call in calls[:10]:
        rewind(call, PERIOD)  # these owe periods 2 and 3
    start = threading.Barrier(4)
    reports, errors = [], []

    def tick() -> None:
        try:
            start.wait()
            reports.append(billing_tick(batch_size=4))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert sum(r.charged for r in reports) == 50
    assert sum(r.calls for r in reports) == 40
    assert_charged_once(calls[:10], periods=3)
    assert_charged_once(calls[10:], periods=2)
    assert billing_tick().calls == 0


def test_a_tick_that_dies_mid_batch_commits_none_of_it_and_the_next_charges_it_once(
    monkeypatch,
):
    calls = due_calls(6)
    save_progress = charging._save_progress
    batches = []

    def die_in_second_batch(progress):  # type: ignore[no-untyped-def]
        save_progress(progress)  # the coins of the batch have moved, in its transaction
        batches.append(progress)
        if len(batches) == 2:
            raise RuntimeError("worker died")

    monkeypatch.setattr(charging, "_save_progress", die_in_second_batch)
    with pytest.raises(RuntimeError, match="worker died"):
        billing_tick(batch_size=3)

    ordered = sorted(calls, key=lambda c: c.pk)
    assert_charged_once(ordered[:3], periods=2)
    for call in ordered[3:]:
        assert charge_keys(call) == [f"call:{call.pk}:minute:1"]
        assert balance(call.caller) == 90
    assert ledger_check().ok

    monkeypatch.setattr(charging, "_save_progress", save_progress)
    report = billing_tick(batch_size=3)
    assert (report.calls, report.charged) == (3, 3)
    assert_charged_once(ordered, periods=2)


# Bills with batches of 3 and stops dead inside the second batch, after its coins moved and
# before it commits, until it is killed.
_STALLING_TICK = """
import sys, time
import django
django.setup()
from calls import billing, charging
save_progress, batches = charging._save_progress, []
def stall(progress):
    save_progress(progress)
    batches.append(progress)
    if len(batches) == 2:
        print("stalled", flush=True)
        time.sleep(120)
charging._save_progress = stall
billing.billing_tick(batch_size=3)
"""


@pytest.mark.timeout(90)
def test_a_process_killed_mid_batch_loses_only_that_batch():
    calls = due_calls(6)
    process = subprocess.Popen(
        [sys.executable, "-c", _STALLING_TICK],
        cwd=ROOT,
        env=server_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        output = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            output.append(line)
            if line.strip() == "stalled" or not line:
                break
        assert output[-1].strip() == "stalled", "".join(output)
        # The second batch holds its rows locked, its coins moved but not committed.
        assert billing_tick().calls == 0
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    ordered = sorted(calls, key=lambda c: c.pk)
    assert_charged_once(ordered[:3], periods=2)
    second = [f"call:{call.pk}:minute:2" for call in ordered[3:]]
    assert not Transaction.objects.filter(idempotency_key__in=second).exists()

    # PostgreSQL rolled the dead connection's transaction back and freed its locks.
    deadline = time.monotonic() + 10
    report = billing_tick()
    while report.calls == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
        report = billing_tick()
    assert (report.calls, report.charged) == (3, 3)
    assert_charged_once(ordered, periods=2)


@pytest.mark.timeout(60)
def test_a_gift_in_the_call_does_not_wait_for_a_tick_holding_the_call():
    # A tick locks a due call, then its parties' wallets. A gift sent in that call locks the
    # wallets, then, at commit, the call row for its foreign key (a KEY SHARE lock). Had the
    # tick's lock conflicted with that one, each would wait for the other: a deadlock, seen
    # under load in tests/test_faults.py (the gift answered 500).
    caller, host = UserFactory.create(), HostFactory.create()
    fund(caller, 100)
    call = start_call(caller, host, rate=10)
    rewind(call, PERIOD)  # period 2 is due: the tick claims the call
    rose = GiftFactory.create(name="Rose", cost_coins=5)
    claimed, release = threading.Event(), threading.Event()

    def tick_holding_the_call() -> None:
        try:
            with transaction.atomic():
                start = (datetime.min.replace(tzinfo=UTC), 0)
                due = billing._claim_due(now=timezone.now(), after=start, limit=10)
                assert [billable.id for billable, _ in due] == [call.pk]
                claimed.set()
                release.wait(15)
        finally:
            connections.close_all()

    tick = threading.Thread(target=tick_holding_the_call)
    tick.start()
    try:
        assert claimed.wait(10)
        started = time.monotonic()
        gift_send(sender=caller, to=host.pk, gift_id=rose.pk, call_id=call.pk)
        took = time.monotonic() - started
    finally:
        release.set()
        tick.join()
    assert took < 3
    assert balance(caller) == 100 - 10 - 5
