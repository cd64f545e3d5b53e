"""Ledger throughput: transfers per second through `wallet_transfer`, next to a raw psycopg 3
baseline that runs the same steps in SQL on connections of its own, in the same run.

For 1, 4 and 16 concurrent workers (threads: see bench/_common.py), each scenario runs for
--seconds: `random` moves coins between two random wallets of --wallets funded users, `hot`
sends every transfer to one host wallet (all workers queue on its row lock). The service path
is what production runs: Django, DEBUG off, and the `wallet:balance` pushes to Redis after
commit; the `no pushes` column is the same service with the pushes left out, to show what
they cost. It prints a table, then one `ratio ledger <scenario> w<workers>: <service / raw>`
line per comparison, and reconciles the bench database (exit 1 if it does not).

    .venv/bin/python -m bench.ledger [--seconds 4] [--wallets 1000]

Runs against its own database, videochat_bench, dropped and re-created (and migrated) each
run; the development database is never touched.
"""

import argparse
import os
import random
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from bench._common import (
    Worker,
    bench_database_url,
    database_recreate,
    django_setup,
    progress,
    ratio_line,
    raw_transfer,
    run_workers,
)

DATABASE = "videochat_bench"
CONCURRENCY = [1, 4, 16]
SCENARIOS = ["random", "hot"]
# Each measurement is split into rounds run in alternating order, so that load from a
# neighbour on a shared machine falls on every path alike.
ROUNDS = 2
FUNDS = 10**12  # per wallet: no transfer of the bench is ever refused
URL = bench_database_url(DATABASE)


def ledger_seed(wallets: int) -> tuple[list[int], int]:
    """`wallets` users with funded wallets, and a host whose wallet is the hot one. Funded by
    one adjustment transfer with a leg per wallet, so the ledger reconciles from the start."""
    from django.db import connection

    from accounts.models import Role, User
    from wallet.ledger.models import EntryType, TransactionKind, WalletKind
    from wallet.ledger.services import Leg, system_wallet_id, wallet_transfer

    # "!" is Django's unusable password: nobody logs in as a bench user.
    users = User.objects.bulk_create(
        User(email=f"bench{n}@example.com", name=f"Bench {n}", gender="other", password="!")  # noqa: S106
        for n in range(wallets)
    )
    host = User.objects.create(
        email="hot@example.com",
        name="Hot",
        gender="female",
        role=Role.HOST,
        password="!",  # noqa: S106
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO wallet_wallet (kind, owner_id, shard, balance, updated_at)"
            " SELECT 'user', id, 0, 0, now() FROM unnest(%s::bigint[]) AS u(id) RETURNING id",
            [[user.pk for user in [*users, host]]],
        )
        ids = sorted(row[0] for row in cursor.fetchall())
    hot, funded = ids[-1], ids[:-1]
    source = system_wallet_id(kind=WalletKind.ADJUSTMENTS, key="bench:funding")
    wallet_transfer(
        kind=TransactionKind.ADJUSTMENT,
        idempotency_key="bench:funding",
        legs=[
            Leg(source, -FUNDS * len(funded), EntryType.ADJUSTMENT),
            *(Leg(wallet_id, FUNDS, EntryType.ADJUSTMENT) for wallet_id in funded),
        ],
    )
    return funded, hot


class Transfers:
    """The transfers one worker makes: between two random wallets, or from a random wallet
    to the hot one."""

    def __init__(self, index: int, wallets: list[int], hot: int | None) -> None:
        self.rng = random.Random(index)
        self.wallets = wallets
        self.hot = hot

    def next(self) -> tuple[int, int, int]:
        """(source, destination, coins)."""
        if self.hot is None:
            source, destination = self.rng.sample(self.wallets, 2)
        else:
            source, destination = self.rng.choice(self.wallets), self.hot
        return source, destination, self.rng.randint(1, 100)


class ServiceWorker:
    """One gift at a time through wallet_transfer, on this thread's Django connection."""

    def __init__(self, transfers: Transfers) -> None:
        from django.db import connection

        from wallet.ledger import services
        from wallet.ledger.models import EntryType, TransactionKind

        self.transfers = transfers
        self.services, self.kind, self.types = services, TransactionKind.GIFT, EntryType
        connection.ensure_connection()

    def step(self) -> None:
        source, destination, coins = self.transfers.next()
        self.services.wallet_transfer(
            kind=self.kind,
            idempotency_key=f"bench:{uuid.uuid4().hex}",
            legs=[
                self.services.Leg(source, -coins, self.types.GIFT_SENT),
                self.services.Leg(destination, coins, self.types.GIFT_RECEIVED),
            ],
        )

    def close(self) -> None:
        from django.db import connection

        connection.close()


class RawWorker:
    """The same transfer as the service's steps, on plain psycopg and a connection of its own:
    claim the key, lock the wallets in id order, check funds, update the balances, insert the
    entries, commit."""

    def __init__(self, transfers: Transfers) -> None:
        self.transfers = transfers
        self.conn = psycopg.connect(URL)

    def step(self) -> None:
        source, destination, coins = self.transfers.next()
        with self.conn.transaction():
            raw_transfer(
                self.conn,
                kind="gift",
                key=f"raw:{uuid.uuid4().hex}",
                reference="",
                legs={source: (-coins, "gift_sent"), destination: (coins, "gift_received")},
            )

    def close(self) -> None:
        self.conn.close()


@contextmanager
def pushes_left_out() -> Iterator[None]:
    """The service without its `wallet:balance` pushes, for the `no pushes` column only."""
    from wallet.ledger import services

    names = [name for name in ("notify", "notify_many") if hasattr(services, name)]
    saved = {name: getattr(services, name) for name in names}
    for name in names:
        setattr(services, name, lambda *args, **kwargs: None)
    try:
        yield
    finally:
        for name, function in saved.items():
            setattr(services, name, function)


def worker_factory(
    kind: Callable[[Transfers], Worker], wallets: list[int], hot: int | None
) -> Callable[[int], Worker]:
    return lambda index: kind(Transfers(index, wallets, hot))


def measure(
    make_worker: Callable[[int], Worker], workers: int, seconds: float, pushes: bool
) -> float:
    if pushes:
        return run_workers(make_worker, workers, seconds)
    with pushes_left_out():
        return run_workers(make_worker, workers, seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="per measurement")
    parser.add_argument("--wallets", type=int, default=1000)
    args = parser.parse_args()

    progress(f"re-creating and migrating {DATABASE}")
    database_recreate(URL)
    # Each worker thread holds a connection for the whole run: the process's pool must have
    # one for each (and the main thread), or the 16-worker runs wait for one and fail.
    os.environ["DATABASE_POOL_MAX_SIZE"] = str(max(CONCURRENCY) + 1)
    django_setup(URL)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    progress(f"funding {args.wallets} wallets and one hot host wallet")
    wallets, hot_wallet = ledger_seed(args.wallets)

    rows = []
    for workers in CONCURRENCY:
        for scenario in SCENARIOS:
            hot = hot_wallet if scenario == "hot" else None
            through_service = worker_factory(ServiceWorker, wallets, hot)
            paths = {
                "service": (through_service, True),
                "no pushes": (through_service, False),
                "raw": (worker_factory(RawWorker, wallets, hot), True),
            }
            rate = dict.fromkeys(paths, 0.0)
            for round_ in range(ROUNDS):
                order = list(paths) if round_ % 2 == 0 else list(reversed(paths))
                for path in order:
                    progress(f"{scenario} w{workers} {path}, round {round_ + 1} of {ROUNDS}")
                    make_worker, pushes = paths[path]
                    seconds = args.seconds / ROUNDS
                    rate[path] += measure(make_worker, workers, seconds, pushes) / ROUNDS
            rows.append((workers, scenario, rate["service"], rate["no pushes"], rate["raw"]))

    print()
    print(
        f"{'workers':>7}  {'scenario':<8}  {'service/s':>9}  {'no pushes/s':>11}  {'raw/s':>7}"
        f"  {'ratio':>5}  {'no pushes ratio':>15}"
    )
    for workers, scenario, service, quiet, raw in rows:
        print(
            f"{workers:>7}  {scenario:<8}  {service:>9.0f}  {quiet:>11.0f}  {raw:>7.0f}"
            f"  {service / raw:>5.2f}  {quiet / raw:>15.2f}"
        )
    print()
    for workers, scenario, service, _, raw in rows:
        print(ratio_line(f"ledger {scenario} w{workers}", service, raw))
    for workers, scenario, _, quiet, raw in rows:
        print(ratio_line(f"ledger without pushes {scenario} w{workers}", quiet, raw))

    from wallet.ledger.reconcile import ledger_check

    report = ledger_check()
    print()
    print(report.text())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
