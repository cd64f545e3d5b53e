"""End to end with a real Celery worker and beat: beat sends calls_billing_tick every
second, the worker charges each 2-second period as it starts, and cuts the caller off when
the coins run out."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from calls.charging import call_charge_period
from calls.models import CallStatus
from calls.tests.billing_helpers import charge_keys, coins_paid
from tests.factories import ActiveCallFactory
from tests.helpers import balance, fund
from tests.servers import Process, running_servers
from wallet.ledger.reconcile import ledger_check

pytestmark = [pytest.mark.servers, pytest.mark.django_db(transaction=True)]

PERIOD = 2
RATE = 10


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Process]:
    """A Celery worker and beat on this run's test database and Redis prefix (no web
    server); stopped, with their whole process groups, at the end."""
    settings = {"CALL_TICK_SECONDS": "1", "CALL_BILLING_PERIOD_SECONDS": str(PERIOD)}
    with running_servers(tmp_path, web=False, worker=True, beat=True, env=settings) as started:
        yield started.processes["worker"]


@pytest.mark.timeout(90)
def test_beat_and_a_worker_bill_each_period_then_cut_the_caller_off(worker, alice, hana):
    worker.wait_for(" ready.", timeout=30)
    # Enough for periods 1 to 3: period 4 (6 s in) is refused and ends the call.
    fund(alice, 3 * RATE + 5)
    call = ActiveCallFactory.create(
        caller=alice, callee=hana, rate_per_minute=RATE, billing_period_seconds=PERIOD
    )
    call_charge_period(call_id=call.pk, period=1)  # as call_accept does

    seen = [balance(alice)]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        call.refresh_from_db()
        now = balance(alice)
        if now != seen[-1]:
            seen.append(now)
        if call.status != CallStatus.ACTIVE:
            break
        time.sleep(0.05)

    assert call.status == CallStatus.ENDED, worker.output()[-3000:]
    assert call.end_reason == "insufficient_funds"
    # One period at a time, each by the rate, then nothing: no partial charge.
    assert seen == [25, 15, 5], worker.output()[-3000:]
    assert charge_keys(call) == [f"call:{call.pk}:minute:{n}" for n in (1, 2, 3)]
    assert (call.periods_charged, call.total_coins) == (3, 3 * RATE) == (3, coins_paid(call))
    assert call.started_at is not None and call.ended_at is not None
    # Cut off when period 4 was due (6 s in), at most a tick or so later.
    assert 3 * PERIOD <= (call.ended_at - call.started_at).total_seconds() < 3 * PERIOD + 3
    assert ledger_check().ok
    assert "calls.tasks.calls_billing_tick" in worker.output()
