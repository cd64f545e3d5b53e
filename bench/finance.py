"""Finance at 1,000,000 ledger rows: the transactions export streamed by the real ASGI app, and
each series of the finance dashboard, next to bare psycopg doing the same reads.

The ledger is generated in SQL (generate_series) over the last --days days: purchases,
call charges, gifts, withdrawal holds and payouts in the proportions of a busy platform,
each a transaction whose entries sum to zero (balance_after and the wallets' balances are not
kept: nothing here reads them), plus the purchase rows the money series reads.

- Export: one uvicorn process serves `videochat.asgi:application` (as production does, see
  deploy/dev/processes.py); a staff access token downloads `transactions.csv` for one day
  (about 10,000 rows), then for the whole range (about 1,000,000 rows). The server's peak
  resident memory (VmHWM) is read after each; the 1M-row export may add at most 50 MB to
  the peak of the small one, or the bench exits 1. Baseline: `COPY (SELECT ...) TO STDOUT
  WITH CSV` of the same rows on bare psycopg.
- Dashboard: each series over the last 90 days through the project's query (Django, as the
  page runs it) and the same SQL on bare psycopg, best of --repeat; any series above 500 ms
  through the project exits 1. The plan of each is checked for the index it should use.

It prints a table and `ratio export transactions 1M: <project / COPY>` and
`ratio dashboard <series> 90d: <project / psycopg>` lines.

    .venv/bin/python -m bench.finance [--rows 1000000] [--days 90] [--repeat 5]

Runs against its own database, videochat_finance_bench, dropped and re-created (and
migrated) each run; the development database is never touched.
"""

import argparse
import http.client
import json
import os
import signal
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench._common import (
    ROOT,
    bench_database_url,
    database_recreate,
    django_setup,
    progress,
    ratio_line,
)
from deploy.dev.processes import Process, free_port, port_open, stop_all

DATABASE = "videochat_finance_bench"
URL = bench_database_url(DATABASE)
HOST = "127.0.0.1"
USERS, HOSTS = 10_000, 500
# Per 20 transactions: 1 purchase (2 entries), 12 call periods (3), 5 gifts (3), 1 withdrawal
# hold (2), 1 payout (2): 57 entries.
ENTRIES_PER_20 = 57
MEMORY_SLACK_MB = 50
SERIES_LIMIT_MS = 500
START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 5
READ_BYTES = 1 << 16


def seed(rows: int, days: int) -> tuple[str, int]:
    """About `rows` ledger entries over the last `days` days; (a finance staff member's
    access token, the number of entries)."""
    from django.contrib.auth.models import Permission
    from django.db import connection
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import Role, User
    from wallet.ledger.models import SYSTEM_WALLET_SHARDS, WalletKind, system_wallet_pk
    from wallet.purchases.models import CoinPackage

    # "!" is Django's unusable password: nobody logs in as a bench user.
    User.objects.bulk_create(
        User(
            email=f"fin{n}@example.com",
            name=f"Bench {n}",
            gender="other",
            password="!",  # noqa: S106
            role=Role.HOST if n >= USERS - HOSTS else Role.USER,
        )
        for n in range(USERS)
    )
    staff = User.objects.create(
        email="finance@example.com",
        name="Finance",
        gender="other",
        password="!",  # noqa: S106
        is_staff=True,
    )
    staff.user_permissions.add(Permission.objects.get(codename="view_finance"))
    package = CoinPackage.objects.create(coins=100, price="4.99", currency="USD")
    transactions = rows * 20 // ENTRIES_PER_20
    params: dict[str, Any] = {
        "transactions": transactions,
        "start": datetime.now(UTC) - timedelta(days=days),
        "seconds": days * 86400,
        "shards": SYSTEM_WALLET_SHARDS,
        "revenue": system_wallet_pk(WalletKind.PLATFORM_REVENUE, 0),
        "clearing": system_wallet_pk(WalletKind.PAYMENT_CLEARING, 0),
        "hold": system_wallet_pk(WalletKind.WITHDRAWAL_HOLD, 0),
        "payouts": system_wallet_pk(WalletKind.PAYOUTS, 0),
        "payers": USERS - HOSTS,
        "hosts": HOSTS,
        "package": package.pk,
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO wallet_wallet (kind, owner_id, shard, balance, updated_at)"
            " SELECT 'user', id, 0, 0, now() FROM accounts_user WHERE email LIKE 'fin%%'"
            " ORDER BY id"
        )
        cursor.execute(
            "SELECT min(w.id) FROM wallet_wallet w JOIN accounts_user u ON u.id = w.owner_id"
            " WHERE u.email LIKE 'fin%%'"
        )
        params["first_wallet"] = cursor.fetchone()[0]
        progress(f"{transactions:,} transactions")
        cursor.execute(
            "INSERT INTO wallet_transaction"
            " (kind, idempotency_key, fingerprint, reference, metadata, created_at)"
            " SELECT CASE WHEN i %% 20 = 0 THEN 'purchase' WHEN i %% 20 <= 12 THEN 'call_charge'"
            "  WHEN i %% 20 <= 17 THEN 'gift' WHEN i %% 20 = 18 THEN 'withdrawal'"
            "  ELSE 'withdrawal_payout' END,"
            " 'bench:' || i, '', 'bench:' || i, '{}',"
            " %(start)s + make_interval(secs => i::float8 * %(seconds)s / %(transactions)s)"
            " FROM generate_series(1, %(transactions)s) AS i ORDER BY i",
            params,
        )
        progress("their entries")
        # Wallets: a payer among the users, a host among the hosts (the last HOSTS users), a
        # shard of each system wallet, all picked from the transaction's id.
        payer = "%(first_wallet)s + t.id %% %(payers)s"
        host = "%(first_wallet)s + %(payers)s + t.id %% %(hosts)s"
        shard = "t.id %% %(shards)s"
        legs = {
            "purchase": [
                (payer, "purchase", "100"),
                (f"%(clearing)s + {shard}", "payment", "-100"),
            ],
            "call_charge": [
                (payer, "call_charge", "-40"),
                (host, "call_earning", "20"),
                (f"%(revenue)s + {shard}", "platform_fee", "20"),
            ],
            "gift": [
                (payer, "gift_sent", "-30"),
                (host, "gift_received", "15"),
                (f"%(revenue)s + {shard}", "platform_fee", "15"),
            ],
            "withdrawal": [
                (host, "withdrawal", "-1000"),
                (f"%(hold)s + {shard}", "withdrawal", "1000"),
            ],
            "withdrawal_payout": [
                (f"%(hold)s + {shard}", "withdrawal_payout", "-1000"),
                (f"%(payouts)s + {shard}", "withdrawal_payout", "1000"),
            ],
        }
        for kind, kind_legs in legs.items():
            values = ", ".join(
                f"({wallet}, '{type_}', {amount})" for wallet, type_, amount in kind_legs
            )
            cursor.execute(
                "INSERT INTO wallet_entry"  # noqa: S608 (constants only)
                " (transaction_id, wallet_id, type, amount, balance_after, created_at)"
                " SELECT t.id, leg.wallet, leg.type, leg.amount, greatest(leg.amount, 0),"
                f" t.created_at FROM wallet_transaction t CROSS JOIN LATERAL (VALUES {values})"
                " AS leg(wallet, type, amount)"
                f" WHERE t.kind = '{kind}' ORDER BY t.id",
                params,
            )
        progress("the purchases")
        cursor.execute(
            "INSERT INTO wallet_purchase (user_id, package_id, coins, price, currency, provider,"
            " provider_ref, external_id, idempotency_key, status, credit_id, reversed_coins,"
            " reversal_reason, created_at, updated_at)"
            " SELECT w.owner_id, %(package)s, 100, 4.99, CASE WHEN t.id %% 40 = 0 THEN 'EUR'"
            " ELSE 'USD' END, 'sandbox', 'bench-' || t.id, '', '', 'credited', t.id, 0, '',"
            " t.created_at, t.created_at"
            " FROM wallet_transaction t JOIN wallet_entry e ON e.transaction_id = t.id"
            " AND e.type = 'purchase' JOIN wallet_wallet w ON w.id = e.wallet_id"
            " WHERE t.kind = 'purchase'",
            params,
        )
        cursor.execute("SELECT count(*), coalesce(sum(amount), 0) FROM wallet_entry")
        entries, total = cursor.fetchone()
    assert total == 0, f"the generated ledger does not balance: {total}"
    progress("VACUUM ANALYZE")
    with psycopg.connect(URL, autocommit=True) as conn:
        for table in ("wallet_transaction", "wallet_entry", "wallet_purchase", "calls_call"):
            conn.execute(f"VACUUM ANALYZE {table}")
    return str(AccessToken.for_user(staff)), entries


# --- the export ------------------------------------------------------------------------------


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def download(port: int, token: str, first: date, last: date) -> tuple[int, float, bool]:
    """(data lines, seconds, chunked) of the transactions export for first..last."""
    conn = http.client.HTTPConnection(HOST, port, timeout=600)
    began = time.perf_counter()
    conn.request(
        "GET",
        f"/adminpanel/exports/transactions.csv?from={first}&to={last}",
        headers={"Authorization": f"Bearer {token}"},
    )
    response = conn.getresponse()
    if response.status != 200:
        raise SystemExit(f"export answered {response.status}: {response.read()[:500]!r}")
    chunked = response.getheader("Transfer-Encoding") == "chunked"
    chunked = chunked and response.getheader("Content-Length") is None
    lines = 0
    while block := response.read(READ_BYTES):
        lines += block.count(b"\n")
    seconds = time.perf_counter() - began
    conn.close()
    return lines - 1, seconds, chunked


def copy_baseline(first: date, last: date) -> tuple[int, float]:
    """(data lines, seconds) of the same rows through COPY ... TO STDOUT WITH CSV."""
    sql = (
        "COPY (SELECT t.id, t.kind, e.id, e.wallet_id, w.kind, u.id, u.email, e.type,"  # noqa: S608
        " e.amount,"
        " e.balance_after, t.reference, to_char(t.created_at AT TIME ZONE 'UTC',"
        ' \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\')'
        " FROM wallet_transaction t JOIN wallet_entry e ON e.transaction_id = t.id"
        " JOIN wallet_wallet w ON w.id = e.wallet_id"
        " LEFT JOIN accounts_user u ON u.id = w.owner_id"
        f" WHERE t.created_at >= '{first}' AND t.created_at < '{last + timedelta(days=1)}'"
        " ORDER BY t.created_at, t.id, e.id) TO STDOUT WITH CSV HEADER"
    )
    with psycopg.connect(URL) as conn:
        began = time.perf_counter()
        lines = 0
        with conn.cursor().copy(sql) as copy:  # type: ignore[arg-type]
            for block in copy:
                lines += bytes(block).count(b"\n")
        return lines - 1, time.perf_counter() - began


def export_line(what: str, rows: int, seconds: float, peak: float | None) -> str:
    memory = f"{peak:>14.1f}" if peak is not None else ""
    return f"{what:<24}  {rows:>9,}  {seconds:>7.2f}  {rows / seconds:>8,.0f}  {memory}"


def measure_export(token: str, entries: int, days: int) -> tuple[list[str], bool]:
    logs = Path(tempfile.mkdtemp(prefix="bench-finance-"))
    port = free_port()
    env = {**os.environ, "DATABASE_URL": URL, "DEBUG": "0", "ALLOWED_HOSTS": HOST,
           "PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "videochat.settings"}  # fmt: skip
    command = [sys.executable, "-m", "uvicorn", "videochat.asgi:application", "--host", HOST,
               "--port", str(port), "--lifespan", "off", "--log-level", "warning",
               "--no-access-log", "--timeout-graceful-shutdown", "2"]  # fmt: skip
    server = Process("web", command, env=env, cwd=ROOT, log=logs / "web.log")
    server.start()
    try:
        server.wait_until(lambda: port_open(HOST, port), START_TIMEOUT_SECONDS, "never listened")
        today = datetime.now(UTC).date()
        first = today - timedelta(days=days)
        day = today - timedelta(days=days // 2)
        progress("export of one day")
        small_rows, small_seconds, _ = download(port, token, day, day)
        small_peak = peak_rss_mb(server.pid)
        progress(f"export of {days + 1} days")
        big_rows, big_seconds, chunked = download(port, token, first, today)
        big_peak = peak_rss_mb(server.pid)
        progress("COPY baseline")
        copy_rows, copy_seconds = copy_baseline(first, today)
        if "must consume synchronous iterators" in server.output():
            raise SystemExit(f"the export was not streamed under ASGI:\n{server.tail()}")
    finally:
        stop_all([server], STOP_TIMEOUT_SECONDS)
    assert big_rows == copy_rows == entries, (big_rows, copy_rows, entries)
    lines = [
        f"{'export':<24}  {'rows':>9}  {'seconds':>7}  {'rows/s':>8}  {'server peak MB':>14}",
        export_line("one day", small_rows, small_seconds, small_peak),
        export_line(f"{days + 1} days", big_rows, big_seconds, big_peak),
        export_line("COPY (bare psycopg)", copy_rows, copy_seconds, None),
        f"streamed (chunked, no Content-Length): {'yes' if chunked else 'NO'}",
        f"peak memory: {big_peak:.1f} MB after {big_rows:,} rows vs {small_peak:.1f} MB after"
        f" {small_rows:,} (allowed: +{MEMORY_SLACK_MB} MB)",
        ratio_line("export transactions 1M", big_seconds, copy_seconds),
    ]
    ok = chunked and big_peak <= small_peak + MEMORY_SLACK_MB
    return lines, ok


# --- the dashboard ---------------------------------------------------------------------------


def best_ms(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append((time.perf_counter() - began) * 1000)
    return min(times)


def measure_dashboard(repeat: int) -> tuple[list[str], bool]:
    from adminpanel.finance import dashboard
    from adminpanel.finance.period import Period

    today = datetime.now(UTC).date()
    period = Period(today - timedelta(days=89), today)
    series = {
        "purchases": dashboard.purchases_per_day,
        **{name: query for name, (query, _) in dashboard.COIN_SERIES.items()},
        "top_hosts": dashboard.top_hosts,
    }
    rows, ok = [], True
    with psycopg.connect(URL, autocommit=True) as conn:
        for name, query in series.items():
            sql, params = query(period).query.sql_with_params()
            explained = conn.execute("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()
            assert explained is not None
            plan = json.dumps(explained[0])
            indexed = "entry_type_created" in plan
            project = best_ms(lambda query=query: list(query(period)), repeat)
            raw = best_ms(
                lambda sql=sql, params=params: conn.execute(sql, params).fetchall(), repeat
            )
            ok = ok and project <= SERIES_LIMIT_MS and indexed
            rows.append((name, project, raw, indexed))
    lines = [f"{'series (90 days)':<18}  {'project ms':>10}  {'psycopg ms':>10}  {'index':>5}"]
    lines += [
        f"{name:<18}  {project:>10.1f}  {raw:>10.1f}  {'yes' if indexed else 'NO':>5}"
        for name, project, raw, indexed in rows
    ]
    lines.append(
        f"every series under {SERIES_LIMIT_MS} ms through the project: {'yes' if ok else 'NO'}"
    )
    lines += [ratio_line(f"dashboard {name} 90d", project, raw) for name, project, raw, _ in rows]
    return lines, ok


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="ledger entries")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=5, help="runs per dashboard series")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the server is stopped

    progress(f"re-creating and migrating {DATABASE}")
    database_recreate(URL)
    django_setup(URL)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    began = time.perf_counter()
    progress(f"generating about {args.rows:,} ledger rows over {args.days} days")
    token, entries = seed(args.rows, args.days)
    progress(f"{entries:,} ledger rows in {time.perf_counter() - began:.0f} s")

    dashboard_lines, dashboard_ok = measure_dashboard(args.repeat)
    export_lines, export_ok = measure_export(token, entries, args.days)
    print()
    print("\n".join(export_lines))
    print()
    print("\n".join(dashboard_lines))
    return 0 if export_ok and dashboard_ok else 1


if __name__ == "__main__":
    sys.exit(main())
