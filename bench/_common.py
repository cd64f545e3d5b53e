"""What the benchmarks share: a database of their own (never the development one), Django set
up against it like production (DEBUG off), concurrent workers that start together, and the
`ratio <what>: <project / baseline>` lines readers of `make bench` look for."""

import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import psycopg
from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://127.0.0.1:5432/videochat"


class Worker(Protocol):
    """One concurrent client of a benchmark: `step()` does one unit of the measured work
    (a transfer, ...); `close()` lets go of its connections."""

    def step(self) -> None: ...

    def close(self) -> None: ...


def progress(text: str) -> None:
    print(f"-- {text}", flush=True)


def bench_url(variable: str, default: str, database: str) -> str:
    """The configured URL `variable` (environment first, then .env, as the settings read
    it) with its database swapped for `database`: same server and credentials, other data."""
    env_file = os.environ.get("ENV_FILE", str(ROOT / ".env"))
    from_file = dotenv_values(env_file) if env_file and Path(env_file).exists() else {}
    url = os.environ.get(variable) or from_file.get(variable) or default
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def bench_database_url(name: str) -> str:
    """DATABASE_URL with the bench's own database `name`."""
    return bench_url("DATABASE_URL", DEFAULT_DATABASE_URL, name)


def database_recreate(url: str) -> None:
    """Drop and create the database of `url`, so every run starts from the same empty state."""
    name = urlsplit(url).path.lstrip("/")
    if not name.endswith("_bench"):
        raise SystemExit(f"refusing to recreate {name!r}: bench databases end in _bench")
    maintenance = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def django_setup(database_url: str) -> None:
    """Django on the bench database with production-like settings: DEBUG off (no query log),
    the sandbox providers allowed as on staging, and Redis keys of its own (the servers a
    bench starts inherit this environment)."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "videochat.settings"
    os.environ["DATABASE_URL"] = database_url
    os.environ["DEBUG"] = "0"
    os.environ["SECRET_KEY"] = "bench-only-secret-key-that-is-long-enough-to-pass"  # noqa: S105
    os.environ["ALLOWED_HOSTS"] = "localhost"
    os.environ["REDIS_PREFIX"] = "videochat-bench"
    # Production refuses play money; a bench moves only play money, as staging would.
    os.environ["PAYMENTS_ALLOW_SANDBOX"] = "1"
    os.environ.setdefault("PAYMENT_PROVIDERS", "sandbox")
    os.environ.setdefault("PAYOUT_PROVIDER", "sandbox")
    os.environ.setdefault("PAYMENTS_SANDBOX_SECRET", "bench-only-sandbox-secret")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def run_workers(make_worker: Callable[[int], Worker], workers: int, seconds: float) -> float:
    """Run `workers` threads, each repeating its `make_worker(index).step()` for `seconds`
    from a common start (connections are opened before it); return the steps per second of
    all of them together.

    Threads, not processes, measured on this project's 2-core machines: a transfer is mostly
    waiting on PostgreSQL, with the GIL released, and 16 threads ran both the service and
    the raw baseline faster than 16 processes did (processes fight PostgreSQL for the two
    cores and get preempted while holding row locks)."""
    start = threading.Barrier(workers)
    counts = [0] * workers
    failures: list[BaseException] = []

    def work(index: int) -> None:
        worker = None
        try:
            worker = make_worker(index)
            start.wait()
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                worker.step()
                counts[index] += 1
        except BaseException as error:
            failures.append(error)
            start.abort()  # the others stop waiting for this one
        finally:
            if worker is not None:
                worker.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"a bench worker failed: {failures[0]!r}")
    return sum(counts) / seconds


def ratio_line(what: str, project: float, baseline: float) -> str:
    return f"ratio {what}: {project / baseline:.2f}"


def raw_transfer(
    conn: psycopg.Connection,
    *,
    kind: str,
    key: str,
    reference: str,
    legs: dict[int, tuple[int, str]],
) -> None:
    """The baseline: wallet_transfer's steps, each as the plainest one-transfer statement (the
    service writes its rows as a batch of one), on plain psycopg, in the caller's transaction.
    `legs` maps wallet id -> (signed amount, entry type). Claim the key, lock the wallets in
    id order, check funds, update the balances, insert the entries."""
    inserted = conn.execute(
        "INSERT INTO wallet_transaction"
        " (kind, idempotency_key, fingerprint, reference, metadata, created_at)"
        " VALUES (%s, %s, %s, %s, '{}', now())"
        " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        [kind, key, "0" * 64, reference],
    ).fetchone()
    assert inserted is not None
    locked = conn.execute(
        "SELECT id, kind, balance, owner_id FROM wallet_wallet"
        " WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
        [sorted(legs)],
    ).fetchall()
    after = {row[0]: row[2] + legs[row[0]][0] for row in locked}
    assert all(balance >= 0 for balance in after.values())
    ids = list(after)
    conn.execute(
        "UPDATE wallet_wallet AS w SET balance = v.balance, updated_at = now()"
        " FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, balance) WHERE w.id = v.id",
        [ids, [after[i] for i in ids]],
    )
    conn.execute(
        "INSERT INTO wallet_entry"
        " (transaction_id, wallet_id, type, amount, balance_after, created_at)"
        " SELECT %s, v.wallet_id, v.type, v.amount, v.balance_after, now()"
        " FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::bigint[])"
        " AS v(wallet_id, type, amount, balance_after)",
        [
            inserted[0],
            ids,
            [legs[i][1] for i in ids],
            [legs[i][0] for i in ids],
            [after[i] for i in ids],
        ],
    )
