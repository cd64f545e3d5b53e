"""Billing tick throughput: one `billing_tick` over N active calls that are all due, next to a
raw psycopg baseline that charges the same N periods one transaction per charge, in the same
run, on the same calls.

For N in 1,000 and 10,000: N callers and N hosts, funded, with N active calls whose period 1
was paid (as accept leaves them) and whose period 2 is due now. The project charges period 2
with one tick, exactly as the beat task runs it (batches, the wallet:balance pushes to Redis
included); then every call is moved one period back in time and the baseline charges
period 3 on one connection with the steps of `wallet_transfer` (claim the key, lock the
three wallets in id order, update the balances, insert the entries) plus the call's update,
one transaction per charge, no pushes. After each, the bench checks that every call was
charged exactly once and that the ledger reconciles (exit 1 if not). Then, at 10,000, period
4 is charged by two ticks at once in two processes, to show whether fanning a tick out over
several workers pays on this machine.

The billing code's clock is pinned: every tick bills at the instant the calls were made
due (`billing_tick(now=...)`), and time moves for the calls only, a period at each rewind.
On the real clock a slow run (the baseline takes tens of seconds on a busy machine) would
reach the start of the following period too, the tick would rightly charge it, and the
exact-count check would fail.

    .venv/bin/python -m bench.billing [--sizes 1000 10000] [--batch-size 500]

It prints a table and one `ratio billing tick N=<n>: <project charges/s / raw charges/s>`
line per size (higher is better for the project). Runs against its own database,
videochat_billing_bench, dropped and re-created (and migrated) each run.
"""

import argparse
import multiprocessing
import sys
import time
from datetime import datetime, timedelta

import psycopg

from bench._common import (
    bench_database_url,
    database_recreate,
    django_setup,
    progress,
    ratio_line,
    raw_transfer,
)

DATABASE = "videochat_billing_bench"
URL = bench_database_url(DATABASE)
RATE = 10
HOST_SHARE = 50
PERIOD = 60
FUNDS = 100 * RATE  # per caller: no charge of the bench is refused or warned about


def calls_create(size: int, tag: str, *, now: datetime) -> list[int]:
    """`size` callers and hosts with wallets, the callers funded, and `size` active calls of
    theirs with period 1 paid through the ledger and period 2 due at `now`. Returns the call
    ids."""
    from django.db import connection

    from accounts.models import Role, User
    from calls.charging import period_transfer
    from calls.models import Call, CallStatus
    from wallet.ledger.models import EntryType, TransactionKind, WalletKind
    from wallet.ledger.services import Leg, TransferRequest, system_wallet_id, wallet_transfer_batch

    def users(role: str) -> list[int]:
        made = User.objects.bulk_create(
            User(
                email=f"{tag}-{role}{n}@example.com",
                name=f"{role} {n}",
                gender="other",
                role=role,
                rate_per_minute=RATE,
                password="!",  # noqa: S106 (unusable: nobody logs in)
            )
            for n in range(size)
        )
        return [user.pk for user in made]

    callers, hosts = users(Role.USER), users(Role.HOST)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO wallet_wallet (kind, owner_id, shard, balance, updated_at)"
            " SELECT 'user', id, 0, 0, now() FROM unnest(%s::bigint[]) AS u(id)"
            " RETURNING owner_id, id",
            [callers + hosts],
        )
        wallets = dict(cursor.fetchall())
    started = now - timedelta(seconds=PERIOD + 1)
    calls = Call.objects.bulk_create(
        Call(
            caller_id=caller,
            callee_id=host,
            status=CallStatus.ACTIVE,
            rate_per_minute=RATE,
            host_share_percent=HOST_SHARE,
            billing_period_seconds=PERIOD,
            started_at=started,
            periods_charged=1,
            total_coins=RATE,
            next_charge_at=started + timedelta(seconds=PERIOD),
        )
        for caller, host in zip(callers, hosts, strict=True)
    )
    # Funded and period 1 paid through the ledger's batch primitive (a chain per caller:
    # the coins, then the charge), so the ledger reconciles from the start.
    for chunk in range(0, size, 1000):
        wallet_transfer_batch(
            chains=[
                [
                    TransferRequest(
                        kind=TransactionKind.ADJUSTMENT,
                        idempotency_key=f"bench:funding:{call.caller_id}",
                        legs=[
                            Leg(wallets[call.caller_id], FUNDS, EntryType.ADJUSTMENT),
                            Leg(
                                system_wallet_id(kind=WalletKind.ADJUSTMENTS, key=str(call.pk)),
                                -FUNDS,
                                EntryType.ADJUSTMENT,
                            ),
                        ],
                    ),
                    period_transfer(
                        call_id=call.pk,
                        period=1,
                        rate=RATE,
                        host_share_percent=HOST_SHARE,
                        caller=wallets[call.caller_id],
                        host=wallets[call.callee_id],
                    ),
                ]
                for call in calls[chunk : chunk + 1000]
            ]
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return [call.pk for call in calls]


def calls_rewind(call_ids: list[int]) -> None:
    """One period back in time: the next period of every call is due at the pinned now."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE calls_call SET started_at = started_at - make_interval(secs => %s),"
            " next_charge_at = next_charge_at - make_interval(secs => %s) WHERE id = ANY(%s)",
            [PERIOD, PERIOD, call_ids],
        )


def calls_end(call_ids: list[int]) -> None:
    """Hang up, so that the next size's ticks bill its own calls only."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE calls_call SET status = 'ended', end_reason = 'hangup', ended_at = now(),"
            " next_charge_at = NULL WHERE id = ANY(%s)",
            [call_ids],
        )


def project_tick(batch_size: int, now: datetime) -> float:
    """Seconds of one billing_tick at the pinned `now`, as the beat task runs it."""
    from calls.billing import billing_tick

    started = time.perf_counter()
    billing_tick(batch_size=batch_size, now=now)
    return time.perf_counter() - started


def _tick_in_child(
    batch_size: int, now: datetime, start: "multiprocessing.synchronize.Barrier"
) -> None:
    from calls.billing import billing_tick

    start.wait()
    billing_tick(batch_size=batch_size, now=now)


def project_ticks_in_parallel(processes: int, batch_size: int, now: datetime) -> float:
    """Seconds until `processes` ticks started together in processes of their own are all
    done (they split the due calls through SKIP LOCKED, as several Celery workers would)."""
    from django.db import connections

    connections.close_all()
    context = multiprocessing.get_context("fork")
    start = context.Barrier(processes + 1)
    children = [
        context.Process(target=_tick_in_child, args=(batch_size, now, start))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    start.wait()
    started = time.perf_counter()
    for child in children:
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"a tick process failed (exit {child.exitcode})")
    return time.perf_counter() - started


def raw_charges(call_ids: list[int]) -> float:
    """Seconds to charge the next period of every call with plain psycopg, one transaction
    per charge on one connection: the statements of wallet_transfer, then the call."""
    from calls.charging import period_transfer

    with psycopg.connect(URL) as conn:
        due = conn.execute(
            "SELECT c.id, cw.id, hw.id, c.rate_per_minute, c.host_share_percent,"
            " c.periods_charged, c.started_at, c.billing_period_seconds"
            " FROM calls_call c JOIN wallet_wallet cw ON cw.owner_id = c.caller_id"
            " JOIN wallet_wallet hw ON hw.owner_id = c.callee_id WHERE c.id = ANY(%s)",
            [call_ids],
        ).fetchall()
        conn.commit()
        # The transfers' legs (the split and the platform shard) are the project's, made
        # before the clock starts: the baseline times the database work only.
        charges = [
            (
                call_id,
                was,
                started_at + timedelta(seconds=(was + 1) * period_seconds),
                rate,
                period_transfer(
                    call_id=call_id,
                    period=was + 1,
                    rate=rate,
                    host_share_percent=share,
                    caller=caller,
                    host=host,
                ),
            )
            for call_id, caller, host, rate, share, was, started_at, period_seconds in due
        ]
        clock = time.perf_counter()
        for call_id, was, next_charge_at, rate, request in charges:
            with conn.transaction():
                raw_transfer(
                    conn,
                    kind="call_charge",
                    key=request.idempotency_key,
                    reference=request.reference,
                    legs={leg.wallet_id: (leg.amount, str(leg.type)) for leg in request.legs},
                )
                updated = conn.execute(
                    "UPDATE calls_call SET periods_charged = periods_charged + 1,"
                    " total_coins = total_coins + %s, next_charge_at = %s"
                    " WHERE id = %s AND status = 'active' AND periods_charged = %s",
                    [rate, next_charge_at, call_id, was],
                ).rowcount
                assert updated == 1
        return time.perf_counter() - clock


def verify(call_ids: list[int], periods: int) -> None:
    """Every call charged exactly `periods` periods, each once in the ledger, and the ledger
    reconciles; exits otherwise."""
    from django.db import connection

    from wallet.ledger.reconcile import ledger_check

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE periods_charged <> %s OR total_coins <> %s)"
            " FROM calls_call WHERE id = ANY(%s)",
            [periods, periods * RATE, call_ids],
        )
        wrong_calls = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM wallet_transaction t JOIN calls_call c"
            " ON t.reference = 'call:' || c.id WHERE c.id = ANY(%s)",
            [call_ids],
        )
        charges = cursor.fetchone()[0]
    report = ledger_check()
    if wrong_calls or charges != periods * len(call_ids) or not report.ok:
        print(report.text())
        raise SystemExit(
            f"billing check failed: {wrong_calls} calls off, {charges} charges in the ledger"
            f" for {len(call_ids)} calls x {periods} periods"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--batch-size", type=int, default=None, help="calls per transaction")
    args = parser.parse_args()

    progress(f"re-creating and migrating {DATABASE}")
    database_recreate(URL)
    django_setup(URL)
    from django.core.management import call_command
    from django.utils import timezone

    from calls.billing import BATCH_SIZE

    call_command("migrate", verbosity=0)
    batch_size = args.batch_size or BATCH_SIZE

    rows = []
    parallel = None
    for size in args.sizes:
        progress(f"N={size}: creating {size} callers, hosts and active calls (period 1 paid)")
        # The instant every tick of this size bills at (see the docstring).
        now = timezone.now()
        call_ids = calls_create(size, tag=f"n{size}", now=now)
        progress(f"N={size}: one billing tick charges period 2 of every call")
        project = project_tick(batch_size, now)
        verify(call_ids, periods=2)
        calls_rewind(call_ids)
        progress(f"N={size}: raw psycopg charges period 3, one transaction per charge")
        raw = raw_charges(call_ids)
        verify(call_ids, periods=3)
        rows.append((size, project, raw))
        if size == max(args.sizes):
            calls_rewind(call_ids)
            progress(f"N={size}: two ticks in two processes charge period 4")
            parallel = (size, project_ticks_in_parallel(2, batch_size, now))
            verify(call_ids, periods=4)
        calls_end(call_ids)

    print()
    print(f"Billing, {RATE} coins per period, batches of {batch_size} calls per transaction")
    print(
        f"{'N calls':>8}  {'tick s':>7}  {'tick charges/s':>14}  {'raw s':>7}"
        f"  {'raw charges/s':>13}  {'ratio':>5}"
    )
    for size, project, raw in rows:
        print(
            f"{size:>8}  {project:>7.2f}  {size / project:>14.0f}  {raw:>7.2f}"
            f"  {size / raw:>13.0f}  {raw / project:>5.2f}"
        )
    if parallel is not None:
        size, seconds = parallel
        print(
            f"{size:>8}  {seconds:>7.2f}  {size / seconds:>14.0f}  (two ticks at once, two"
            " processes: the fan-out over Celery workers)"
        )
    print()
    print("ratio = project charges/s / raw charges/s (higher is better for the project)")
    for size, project, raw in rows:
        print(ratio_line(f"billing tick N={size}", size / project, size / raw))
    return 0


if __name__ == "__main__":
    sys.exit(main())
