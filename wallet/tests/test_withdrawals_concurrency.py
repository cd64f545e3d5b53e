"""Withdrawals under real concurrency, on the real PostgreSQL: requests, reviews and payouts
racing each other have exactly one winner; and a real Celery worker pays through the task
beat runs.

The races are made deterministic: the test holds a row lock, starts the contenders in
threads, waits until PostgreSQL shows them all blocked on locks, and lets go."""

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from accounts.models import User
from tests.helpers import balance, earn
from tests.servers import running_servers
from videochat.errors import Conflict, InsufficientFunds
from wallet.ledger.models import EntryType, Transaction, TransactionKind, Wallet, WalletKind
from wallet.ledger.services import Leg, wallet_ensure, wallet_transfer
from wallet.tests.withdrawal_helpers import WITHDRAWALS, make_staff, system_total
from wallet.withdrawals.models import Withdrawal
from wallet.withdrawals.providers import PROVIDERS, PayoutRequest, SandboxPayoutProvider
from wallet.withdrawals.services import (
    withdrawal_approve,
    withdrawal_pay,
    withdrawal_reject,
    withdrawal_request,
)
from wallet.withdrawals.tasks import withdrawals_process

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
    pytest.mark.usefixtures("withdrawal_rules"),
]


def lock_waiters() -> int:
    """Sessions of this test database blocked on a lock right now."""
    with connection.cursor() as cursor:
        # Activity is a per-transaction snapshot: drop it to see the present.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        (count,) = cursor.fetchone()
    return int(count)


def race(hold_lock: Callable[[], object], *contenders: Callable[[], Any]) -> list[Any]:
    """Run the contenders in threads while this thread holds the lock `hold_lock` takes,
    each started only once the one before waits on a lock (PostgreSQL grants a lock in
    the order it was asked for, so the first contender goes first); release when all wait.
    Returns what each returned or raised, in order."""

    def run(contender: Callable[[], Any]) -> Any:
        try:
            return contender()
        except Exception as error:
            return error
        finally:
            connections.close_all()

    with ThreadPoolExecutor(len(contenders)) as pool:
        with transaction.atomic():
            hold_lock()
            futures = []
            for contender in contenders:
                futures.append(pool.submit(run, contender))
                deadline = time.monotonic() + 20
                while lock_waiters() < len(futures):
                    assert time.monotonic() < deadline, "a contender never queued on a lock"
                    assert not any(f.done() for f in futures), [f.result() for f in futures]
                    time.sleep(0.02)
        return [future.result(timeout=30) for future in futures]


@pytest.fixture
def host(transactional_db: None) -> User:
    """A verified host with 5000 earned coins."""
    user = User.objects.create_user(
        "hana@example.com", "x", name="Hana", role="host", host_verified_at=timezone.now()
    )
    earn(user, 5000)
    return user


def lock_wallet_of(user: User) -> Callable[[], object]:
    wallet_id = wallet_ensure(user_id=user.pk)
    return lambda: list(Wallet.objects.select_for_update().filter(pk=wallet_id))


def lock_withdrawal(withdrawal: Withdrawal) -> Callable[[], object]:
    return lambda: list(Withdrawal.objects.select_for_update().filter(pk=withdrawal.pk))


# --- Requests ----------------------------------------------------------------------------------


def test_two_requests_at_once_open_one_withdrawal(host, client_for):
    clients = [client_for(host), client_for(host)]

    def post(client: Any) -> Callable[[], Any]:
        return lambda: client.post(WITHDRAWALS, {"coins": 1000}, format="json")

    # Both pass the "no open withdrawal" check, then queue on her wallet: the second to get
    # it is refused by the unique index, not by the check.
    responses = race(lock_wallet_of(host), *(post(client) for client in clients))

    assert sorted(r.status_code for r in responses) == [201, 409], [r.content for r in responses]
    conflict = next(r for r in responses if r.status_code == 409).json()["error"]
    assert conflict["code"] == "conflict"
    assert conflict["details"] == {"withdrawal_id": Withdrawal.objects.get().pk}
    assert balance(host) == 4000
    assert system_total(WalletKind.WITHDRAWAL_HOLD) == 1000
    assert Transaction.objects.filter(kind="withdrawal").count() == 1


def test_the_same_keyed_request_twice_at_once_is_one_withdrawal(host, client_for):
    clients = [client_for(host), client_for(host)]

    def post(client: Any) -> Callable[[], Any]:
        return lambda: client.post(
            WITHDRAWALS, {"coins": 1000}, format="json", HTTP_IDEMPOTENCY_KEY="tap-tap"
        )

    responses = race(lock_wallet_of(host), *(post(client) for client in clients))

    assert [r.status_code for r in responses] == [201, 201], [r.content for r in responses]
    assert responses[0].json() == responses[1].json()
    assert Withdrawal.objects.count() == 1
    assert balance(host) == 4000


def test_withdrawable_is_read_after_a_concurrent_spend(host):
    other = User.objects.create_user("nina@example.com", "x", name="Nina", role="host")
    wallet_ensure(user_id=other.pk)

    def spend() -> object:
        return wallet_transfer(
            kind=TransactionKind.GIFT,
            idempotency_key="spend",
            legs=[
                Leg(wallet_ensure(user_id=host.pk), -4500, EntryType.GIFT_SENT),
                Leg(wallet_ensure(user_id=other.pk), 4500, EntryType.GIFT_RECEIVED),
            ],
        )

    # The spend queues on her wallet first; the request, which locks her wallet before it
    # computes what she may withdraw, sees the balance the spend left.
    spent, refused = race(
        lock_wallet_of(host), spend, lambda: withdrawal_request(user=host, coins=1000)
    )

    assert not isinstance(spent, Exception), spent
    assert isinstance(refused, InsufficientFunds), refused
    assert refused.details == {"withdrawable": 500, "needed": 1000}
    assert not Withdrawal.objects.exists()
    assert balance(host) == 500


# --- Reviews and payouts -----------------------------------------------------------------------


@pytest.mark.parametrize("first", ["approve", "reject"])
def test_approve_and_reject_at_once_have_one_winner(host, first):
    staff = make_staff()
    withdrawal = withdrawal_request(user=host, coins=1000)
    contenders = {
        "approve": lambda: withdrawal_approve(withdrawal_id=withdrawal.pk, staff=staff),
        "reject": lambda: withdrawal_reject(withdrawal_id=withdrawal.pk, staff=staff, reason="No"),
    }
    second = "reject" if first == "approve" else "approve"

    won, lost = race(lock_withdrawal(withdrawal), contenders[first], contenders[second])

    assert isinstance(won, Withdrawal), won
    assert isinstance(lost, Conflict), lost
    withdrawal.refresh_from_db()
    refunds = Transaction.objects.filter(kind="withdrawal_refund").count()
    held = system_total(WalletKind.WITHDRAWAL_HOLD)
    if first == "reject":
        assert withdrawal.status == "rejected"
        assert (balance(host), held, refunds) == (5000, 0, 1)
    else:
        assert withdrawal.status == "approved"
        assert (balance(host), held, refunds) == (4000, 1000, 0)


def test_two_staff_approving_a_large_one_at_once_are_its_two_approvals(host, settings):
    settings.WITHDRAWAL_TWO_APPROVALS_ABOVE_COINS = 999
    fay, sam = make_staff(), User.objects.create_superuser("sam@example.com", "x", name="Sam")
    withdrawal = withdrawal_request(user=host, coins=1000)

    first, second = race(
        lock_withdrawal(withdrawal),
        lambda: withdrawal_approve(withdrawal_id=withdrawal.pk, staff=fay),
        lambda: withdrawal_approve(withdrawal_id=withdrawal.pk, staff=sam),
    )

    assert (first.status, second.status) == ("pending", "approved"), (first, second)
    withdrawal.refresh_from_db()
    assert (withdrawal.first_approved_by, withdrawal.reviewed_by) == (fay, sam)


def test_two_workers_paying_at_once_pay_once(host):
    withdrawal = withdrawal_approve(
        withdrawal_id=withdrawal_request(user=host, coins=1000).pk, staff=make_staff()
    )
    SandboxPayoutProvider.requests.clear()

    # Both read the withdrawal as due, then queue to claim the same attempt.
    outcomes = race(
        lock_withdrawal(withdrawal),
        lambda: withdrawal_pay(withdrawal_id=withdrawal.pk),
        lambda: withdrawal_pay(withdrawal_id=withdrawal.pk),
    )

    assert sorted(outcome is None for outcome in outcomes) == [False, True], outcomes
    assert len(SandboxPayoutProvider.requests) == 1
    withdrawal.refresh_from_db()
    assert (withdrawal.status, withdrawal.payout_attempts) == ("paid", 1)
    assert Transaction.objects.filter(kind="withdrawal_payout").count() == 1
    assert system_total(WalletKind.PAYOUTS) == 1000


class SlowProvider:
    """A payout provider whose first call hangs until released: one slower than the
    interval between two sweeps. Pays once per key, like a real one."""

    name = "slow"

    def __init__(self) -> None:
        self.calls = 0
        self.entered = threading.Event()
        self.release = threading.Event()

    def send(self, payout: PayoutRequest) -> str:
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            assert self.release.wait(20), "never released"
        return f"slow-{payout.idempotency_key}"


def test_a_slow_payout_overlapping_the_next_sweep_settles_once(host, settings, monkeypatch):
    provider = SlowProvider()
    monkeypatch.setitem(PROVIDERS, "slow", provider)
    settings.PAYOUT_PROVIDER = "slow"
    withdrawal = withdrawal_approve(
        withdrawal_id=withdrawal_request(user=host, coins=1000).pk, staff=make_staff()
    )

    def first_attempt() -> Withdrawal | None:
        try:
            return withdrawal_pay(withdrawal_id=withdrawal.pk)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(first_attempt)
        assert provider.entered.wait(10)
        # The next sweep claims the next attempt and gets the same payout back at once.
        quick = withdrawal_pay(withdrawal_id=withdrawal.pk)
        provider.release.set()
        late = slow.result(timeout=30)

    assert quick is not None and late is not None
    assert (quick.status, late.status) == ("paid", "paid")
    withdrawal.refresh_from_db()
    assert (withdrawal.payout_attempts, withdrawal.payout_ref) == (
        2,
        f"slow-withdrawal-{withdrawal.pk}",
    )
    # The late attempt found it paid: nothing of the first settlement was written over.
    assert withdrawal.paid_at == quick.paid_at == late.paid_at
    assert Transaction.objects.filter(kind="withdrawal_payout").count() == 1
    assert system_total(WalletKind.PAYOUTS) == 1000


# --- A real Celery worker ------------------------------------------------------------------------


@pytest.fixture
def celery_worker(tmp_path: Path) -> Iterator[Path]:
    """A Celery worker (no web server) on the test database and this run's Redis prefix;
    yields its log file."""
    with running_servers(tmp_path, web=False, worker=True) as started:
        yield started.processes["worker"].log


@pytest.mark.servers
def test_a_real_worker_pays_an_approved_withdrawal(host, celery_worker):
    withdrawal = withdrawal_approve(
        withdrawal_id=withdrawal_request(user=host, coins=1000).pk, staff=make_staff()
    )

    withdrawals_process.delay()

    deadline = time.monotonic() + 60
    while withdrawal.status != "paid":
        assert time.monotonic() < deadline, celery_worker.read_text()[-4000:]
        time.sleep(0.2)
        withdrawal.refresh_from_db()
    assert withdrawal.payout_ref.startswith("sandbox-")
    assert withdrawal.payout_attempts == 1
    assert balance(host) == 4000
    assert system_total(WalletKind.WITHDRAWAL_HOLD) == 0
    assert system_total(WalletKind.PAYOUTS) == 1000
