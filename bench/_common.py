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


def bench_database_url(name: str) -> str:
    """The configured DATABASE_URL (environment first, then .env, as the settings read it)
    with its database swapped for `name`: same server and credentials, other data."""
    env_file = os.environ.get("ENV_FILE", str(ROOT / ".env"))
    from_file = dotenv_values(env_file) if env_file and Path(env_file).exists() else {}
    url = os.environ.get("DATABASE_URL") or from_file.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


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
    """Django on the bench database with production-like settings: DEBUG off (no query log)
    and Redis keys of its own."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "videochat.settings"
    os.environ["DATABASE_URL"] = database_url
    os.environ["DEBUG"] = "0"
    os.environ["SECRET_KEY"] = "bench-only-secret-key-that-is-long-enough-to-pass"  # noqa: S105
    os.environ["ALLOWED_HOSTS"] = "localhost"
    os.environ["REDIS_PREFIX"] = "videochat-bench"
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
