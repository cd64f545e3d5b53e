"""The finance exports (`GET /adminpanel/exports/<kind>.csv`): what each one holds, and how
its rows are read a batch at a time.

Rows are read by keyset over the row's `(created_at, id)`: each batch is one query that
starts where the last one stopped (through the `created_at` index), so memory stays flat
whatever the range, and no connection or transaction is held between batches: a slow
download keeps no PostgreSQL connection from the process's pool. A range that includes today
shows what was committed by the time each batch was read.

PostgreSQL writes every cell as the file has it (timestamps as text, text made safe for a
spreadsheet), so each batch goes to the csv module as it comes: at 1,000,000 rows, a Python
function per cell cost a third of the export's time (bench/finance.py).

Every export covers rows whose `created_at` is in the period (UTC). `transactions` has one row
per ledger entry, its transaction's entries together; the entries of one transaction sum to
zero, so the amounts of any whole day do too."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from adminpanel.finance.cells import csv_lines
from adminpanel.finance.period import Period

# Where the next batch starts: the (created_at, id) of the last row read.
Keyset = tuple[datetime, int]

# Transactions per batch of `transactions` (2 or 3 entries each), rows per batch of the rest.
BATCH_ROWS = 2000

# What a spreadsheet runs as a formula when a cell starts with it (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _utc(column: str) -> str:
    """SQL that writes a timestamp as ISO 8601 in UTC (`2026-12-02T10:21:53.123456Z`), to the
    microsecond as PostgreSQL keeps it, so the keyset is read back from it exactly."""
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


def _text(column: str) -> str:
    """SQL for a text column that is safe in a spreadsheet: a value that starts with one of
    FORMULA_STARTS gets a `'` in front, as OWASP recommends. Numbers never go through this:
    they stay numbers, negative ones included."""
    starts = ", ".join(f"chr({ord(start)})" for start in FORMULA_STARTS)
    return f"CASE WHEN left({column}, 1) IN ({starts}) THEN chr(39) || {column} ELSE {column} END"


def _after(alias: str) -> str:
    """The keyset condition: rows of the period after the last one read."""
    return (
        f"{alias}.created_at >= %(after_at)s AND {alias}.created_at < %(end)s"
        f" AND ({alias}.created_at > %(after_at)s OR {alias}.id > %(after_id)s)"
    )


@dataclass(frozen=True)
class Export:
    kind: str
    columns: tuple[str, ...]
    # Selects the columns (text through _text, timestamps through _utc) in keyset order: the
    # columns `created_at` and `key` (the id it is ordered by) hold the row's keyset.
    sql: str
    key: str

    def header(self) -> bytes:
        return csv_lines([self.columns])

    def batch(self, *, period: Period, after: Keyset | None) -> tuple[bytes, Keyset | None]:
        """The CSV lines of the batch after `after` (None: from the start of the period), and
        the keyset to continue from, or None when the period has no more rows."""
        after_at, after_id = after or (period.start, 0)
        with connection.cursor() as cursor:
            cursor.execute(
                self.sql,
                {
                    "after_at": after_at,
                    "after_id": after_id,
                    "end": period.end,
                    "limit": BATCH_ROWS,
                },
            )
            rows: Sequence[tuple[object, ...]] = cursor.fetchall()
        if not rows:
            return b"", None
        last = dict(zip(self.columns, rows[-1], strict=True))
        last_at, last_id = last["created_at"], last[self.key]
        assert isinstance(last_at, str) and isinstance(last_id, int)
        return csv_lines(rows), (datetime.fromisoformat(last_at), last_id)


TRANSACTIONS = Export(
    kind="transactions",
    columns=(
        "transaction_id",
        "kind",
        "entry_id",
        "wallet_id",
        "wallet_kind",
        "user_id",
        "user_email",
        "entry_type",
        "amount",
        "balance_after",
        "reference",
        "created_at",
    ),
    sql=f"""
        WITH batch AS (
            SELECT t.id, t.kind, t.reference, t.created_at FROM wallet_transaction t
            WHERE {_after("t")} ORDER BY t.created_at, t.id LIMIT %(limit)s
        )
        SELECT b.id, {_text("b.kind")}, e.id, e.wallet_id, {_text("w.kind")}, u.id,
               {_text("u.email")}, {_text("e.type")}, e.amount, e.balance_after,
               {_text("b.reference")}, {_utc("b.created_at")}
        FROM batch b
        JOIN wallet_entry e ON e.transaction_id = b.id
        JOIN wallet_wallet w ON w.id = e.wallet_id
        LEFT JOIN accounts_user u ON u.id = w.owner_id
        ORDER BY b.created_at, b.id, e.id
    """,  # noqa: S608 (only constant SQL fragments are interpolated)
    key="transaction_id",
)

CALLS = Export(
    kind="calls",
    columns=(
        "call_id",
        "caller_id",
        "caller_email",
        "callee_id",
        "callee_email",
        "status",
        "end_reason",
        "rate_per_minute",
        "host_share_percent",
        "periods_charged",
        "total_coins",
        "duration_seconds",
        "created_at",
        "started_at",
        "ended_at",
    ),
    sql=f"""
        SELECT c.id, c.caller_id, {_text("caller.email")}, c.callee_id, {_text("callee.email")},
               {_text("c.status")}, {_text("c.end_reason")}, c.rate_per_minute,
               c.host_share_percent, c.periods_charged, c.total_coins,
               CASE WHEN c.started_at IS NULL THEN 0 ELSE GREATEST(0, floor(extract(epoch
                   FROM coalesce(c.ended_at, now()) - c.started_at)))::bigint END,
               {_utc("c.created_at")}, {_utc("c.started_at")}, {_utc("c.ended_at")}
        FROM calls_call c
        JOIN accounts_user caller ON caller.id = c.caller_id
        JOIN accounts_user callee ON callee.id = c.callee_id
        WHERE {_after("c")} ORDER BY c.created_at, c.id LIMIT %(limit)s
    """,  # noqa: S608 (only constant SQL fragments are interpolated)
    key="call_id",
)

GIFTS = Export(
    kind="gifts",
    columns=(
        "gift_send_id",
        "sender_id",
        "sender_email",
        "receiver_id",
        "receiver_email",
        "gift_id",
        "gift_name",
        "coins_spent",
        "receiver_coins",
        "platform_coins",
        "call_id",
        "transaction_id",
        "created_at",
    ),
    sql=f"""
        SELECT s.id, s.sender_id, {_text("sender.email")}, s.receiver_id,
               {_text("receiver.email")}, s.gift_id, {_text("g.name")}, s.coins_spent,
               s.receiver_coins, s.coins_spent - s.receiver_coins, s.call_id, s.transfer_id,
               {_utc("s.created_at")}
        FROM gifts_giftsend s
        JOIN accounts_user sender ON sender.id = s.sender_id
        JOIN accounts_user receiver ON receiver.id = s.receiver_id
        JOIN gifts_gift g ON g.id = s.gift_id
        WHERE {_after("s")} ORDER BY s.created_at, s.id LIMIT %(limit)s
    """,  # noqa: S608 (only constant SQL fragments are interpolated)
    key="gift_send_id",
)

WITHDRAWALS = Export(
    kind="withdrawals",
    columns=(
        "withdrawal_id",
        "user_id",
        "user_email",
        "coins",
        "status",
        "auto_approved",
        "review_note",
        "first_approved_by",
        "first_approved_at",
        "reviewed_by",
        "reviewed_at",
        "rejection_reason",
        "payout_ref",
        "paid_at",
        "failed_at",
        "refunded_at",
        "refund_reason",
        "created_at",
    ),
    sql=f"""
        SELECT w.id, w.user_id, {_text("u.email")}, w.coins, {_text("w.status")},
               w.auto_approved, {_text("w.review_note")}, {_text("first.email")},
               {_utc("w.first_approved_at")}, {_text("reviewer.email")}, {_utc("w.reviewed_at")},
               {_text("w.rejection_reason")}, {_text("w.payout_ref")}, {_utc("w.paid_at")},
               {_utc("w.failed_at")}, {_utc("w.refunded_at")}, {_text("w.refund_reason")},
               {_utc("w.created_at")}
        FROM wallet_withdrawal w
        JOIN accounts_user u ON u.id = w.user_id
        LEFT JOIN accounts_user first ON first.id = w.first_approved_by_id
        LEFT JOIN accounts_user reviewer ON reviewer.id = w.reviewed_by_id
        WHERE {_after("w")} ORDER BY w.created_at, w.id LIMIT %(limit)s
    """,  # noqa: S608 (only constant SQL fragments are interpolated)
    key="withdrawal_id",
)

PURCHASES = Export(
    kind="purchases",
    columns=(
        "purchase_id",
        "user_id",
        "user_email",
        "package_id",
        "coins",
        "price",
        "currency",
        "provider",
        "provider_ref",
        "status",
        "transaction_id",
        "created_at",
        "updated_at",
    ),
    sql=f"""
        SELECT p.id, p.user_id, {_text("u.email")}, p.package_id, p.coins, p.price,
               {_text("p.currency")}, {_text("p.provider")}, {_text("p.provider_ref")},
               {_text("p.status")}, p.credit_id, {_utc("p.created_at")}, {_utc("p.updated_at")}
        FROM wallet_purchase p
        JOIN accounts_user u ON u.id = p.user_id
        WHERE {_after("p")} ORDER BY p.created_at, p.id LIMIT %(limit)s
    """,  # noqa: S608 (only constant SQL fragments are interpolated)
    key="purchase_id",
)

EXPORTS = {export.kind: export for export in (TRANSACTIONS, CALLS, GIFTS, WITHDRAWALS, PURCHASES)}
