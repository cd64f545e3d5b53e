"""The ledger under load: many threads, then several processes, hammer wallet_transfer at
once with random transfers, a hot host wallet, A->B against B->A (deadlock bait) and the same
idempotency keys sent by every worker at the same moment. Afterwards: the ledger reconciles,
every wallet holds exactly what the transfers that reported success moved, no user balance is
negative, each shared key was applied once, and nothing failed but InsufficientFunds."""

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

from tests.factories import HostFactory, UserFactory
from wallet.ledger.models import Wallet, WalletKind
from wallet.ledger.reconcile import ledger_check
from wallet.ledger.services import wallet_adjust, wallet_ensure
from wallet.tests.load_worker import hammer

pytestmark = [pytest.mark.load, pytest.mark.django_db(transaction=True)]

THREADS = 16
PROCESSES = 4
WALLETS = 20


@pytest.fixture
def plan() -> dict[str, Any]:
    """WALLETS funded users (a few of them nearly broke, so refusals happen), a pair for the
    deadlock bait, a hot host, and a bank paying out the shared-key transfers."""
    wallets = []
    for n in range(WALLETS):
        user = UserFactory.create()
        wallet_adjust(
            user_id=user.pk,
            amount=5 if n % 5 == 0 else 2000,
            idempotency_key=f"fund:{n}",
            reason="load test",
        )
        wallets.append(wallet_ensure(user_id=user.pk))
    bank = UserFactory.create()
    wallet_adjust(user_id=bank.pk, amount=10**6, idempotency_key="fund:bank", reason="load test")
    hot = wallet_ensure(user_id=HostFactory.create().pk)
    return {
        "wallets": wallets,
        "pair": wallets[1:3],
        "hot": hot,
        "bank": wallet_ensure(user_id=bank.pk),
    }


def balances() -> dict[int, int]:
    return dict(Wallet.objects.values_list("id", "balance"))


def assert_exactly_what_was_reported_moved(
    before: dict[int, int], tallies: list[dict[str, Any]]
) -> None:
    errors = [error for tally in tallies for error in tally["errors"]]
    assert errors == [], errors[:5]

    applied = [row for tally in tallies for row in tally["applied"]]
    replayed = [row for tally in tallies for row in tally["replayed"]]
    # Each key applied at most once; each replay found the transaction that applied it.
    assert len({key for key, _, _ in applied}) == len(applied)
    first = {key: txn for key, txn, _ in applied}
    assert all(first[key] == txn for key, txn in replayed)
    # The shared keys really were raced: most were sent by several workers.
    shared = Counter(key for key, *_ in applied + replayed if key.startswith("shared:"))
    assert sum(1 for sends in shared.values() if sends > 1) >= len(shared) // 2

    expected = dict(before)
    for _, _, legs in applied:
        for wallet_id, amount in legs:
            expected[wallet_id] += amount
    assert balances() == expected
    assert not Wallet.objects.filter(kind=WalletKind.USER, balance__lt=0).exists()

    report = ledger_check()
    assert report.ok, report.text()
    assert report.balance_total == 0
    refused = sum(tally["refused"] for tally in tallies)
    assert len(applied) > 10 * refused, "the load should mostly succeed"


def test_many_threads_at_once(plan):
    before = balances()
    start = threading.Barrier(THREADS)
    tallies: list[dict[str, Any]] = [{} for _ in range(THREADS)]

    def work(n: int) -> None:
        try:
            start.wait()
            tallies[n] = hammer(worker=f"t{n}", plan=plan, ops=50, seed=n)
        finally:
            # Each thread has its own connection; the test database is dropped at the end.
            connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)

    assert_exactly_what_was_reported_moved(before, tallies)


# A worker process: a Django of its own on the test database. It reads its arguments, says
# "ready", and starts at "go", so that all workers start together.
WORKER = """
import json, sys
import django
django.setup()
from wallet.tests.load_worker import hammer
arguments = json.loads(sys.stdin.readline())
print("ready", flush=True)
sys.stdin.readline()
print(json.dumps(hammer(**arguments)), flush=True)
"""


def test_several_processes_at_once(plan):
    before = balances()
    test_db = connection.settings_dict["NAME"]
    url = urlsplit(settings.DATABASE_URL)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        # tests/settings.py keeps a database named test_* as it is.
        "DATABASE_URL": urlunsplit(url._replace(path=f"/{test_db}")),
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER],
            cwd=settings.BASE_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    try:
        for n, worker in enumerate(workers):
            arguments = {"worker": f"p{n}", "plan": plan, "ops": 150, "seed": 100 + n}
            send(worker, json.dumps(arguments))
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline() == "ready\n"
        for worker in workers:
            send(worker, "go")
        outputs = [worker.communicate(timeout=45)[0] for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert [worker.returncode for worker in workers] == [0] * PROCESSES
    tallies = [json.loads(output) for output in outputs]

    assert all(tally["applied"] for tally in tallies)
    assert_exactly_what_was_reported_moved(before, tallies)


def send(worker: "subprocess.Popen[str]", line: str) -> None:
    assert worker.stdin is not None
    worker.stdin.write(line + "\n")
    worker.stdin.flush()
