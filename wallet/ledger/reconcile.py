"""The ledger's proof of health: every wallet's balance equals the sum of its entries (and the
balance its last entry recorded), every transaction's entries sum to zero, the whole ledger
sums to zero, and no wallet that may not go negative is negative.

Set-based SQL, one pass over the entries per check, inside one read-only REPEATABLE READ
transaction: every statement sees the same snapshot, so transfers committing meanwhile can
neither make a healthy ledger look broken nor hide a broken one.
"""

import time
from dataclasses import asdict, dataclass
from typing import Any

from django.db import connection, transaction

from wallet.ledger.models import ISSUING_KINDS, WalletKind

# How many bad wallets and bad transactions a report names; counts are always complete.
NAMED_LIMIT = 100

_WALLETS_SQL = """
WITH per_wallet AS (
    SELECT wallet_id, SUM(amount)::bigint AS total, COUNT(*) AS entries
    FROM wallet_entry
    GROUP BY wallet_id
), checked AS (
    SELECT w.id, w.kind, w.owner_id, w.balance,
           COALESCE(p.total, 0) AS entries_sum,
           COALESCE(p.entries, 0) AS entries,
           last.balance_after AS last_balance_after
    FROM wallet_wallet w
    LEFT JOIN per_wallet p ON p.wallet_id = w.id
    -- The wallet's latest entry, one probe of its (wallet, -id) history index: entry ids
    -- grow in commit order per wallet, since the wallet row is locked while they are written.
    LEFT JOIN LATERAL (
        SELECT balance_after FROM wallet_entry e
        WHERE e.wallet_id = w.id ORDER BY e.id DESC LIMIT 1
    ) last ON true
), bad AS (
    SELECT * FROM checked
    WHERE balance <> entries_sum
       OR last_balance_after <> balance
       OR (balance < 0 AND kind <> ALL(%(issuing)s))
)
SELECT s.wallets, s.entries, s.entries_total, s.balance_total, s.bad_count,
       b.id, b.kind, b.owner_id, b.balance, b.entries_sum, b.last_balance_after
FROM (
    SELECT COUNT(*) AS wallets,
           COALESCE(SUM(entries), 0)::bigint AS entries,
           COALESCE(SUM(entries_sum), 0)::bigint AS entries_total,
           COALESCE(SUM(balance), 0)::bigint AS balance_total,
           (SELECT COUNT(*) FROM bad) AS bad_count
    FROM checked
) s
LEFT JOIN (SELECT * FROM bad ORDER BY id LIMIT %(named)s) b ON true
ORDER BY b.id
"""

_TRANSACTIONS_SQL = """
WITH per_transaction AS (
    SELECT transaction_id, SUM(amount)::bigint AS total, COUNT(*) AS entries
    FROM wallet_entry
    GROUP BY transaction_id
), checked AS (
    SELECT t.id, t.kind, t.reference,
           COALESCE(p.total, 0) AS entries_sum, COALESCE(p.entries, 0) AS entries
    FROM wallet_transaction t
    LEFT JOIN per_transaction p ON p.transaction_id = t.id
), bad AS (
    -- A transaction moves coins between at least two wallets and creates none.
    SELECT * FROM checked WHERE entries < 2 OR entries_sum <> 0
)
SELECT s.transactions, s.bad_count, b.id, b.kind, b.reference, b.entries_sum, b.entries
FROM (
    SELECT COUNT(*) AS transactions, (SELECT COUNT(*) FROM bad) AS bad_count FROM checked
) s
LEFT JOIN (SELECT * FROM bad ORDER BY id LIMIT %(named)s) b ON true
ORDER BY b.id
"""


# What users owe (their wallets' `owed`) against the receivables wallets that record it.
_DEBTS_SQL = """
SELECT COALESCE(SUM(owed), 0)::bigint,
       COALESCE(SUM(balance) FILTER (WHERE kind = %(receivables)s), 0)::bigint
FROM wallet_wallet
"""


@dataclass(frozen=True)
class BadWallet:
    id: int
    kind: str
    owner_id: int | None
    balance: int
    entries_sum: int
    # None when the wallet has no entry at all.
    last_balance_after: int | None

    def __str__(self) -> str:
        owner = f"user {self.owner_id}" if self.owner_id is not None else "system"
        return (
            f"wallet {self.id} ({self.kind}, {owner}): balance {self.balance},"
            f" entries sum {self.entries_sum}, last entry's balance_after"
            f" {self.last_balance_after}"
        )


@dataclass(frozen=True)
class BadTransaction:
    id: int
    kind: str
    reference: str
    entries_sum: int
    entries: int

    def __str__(self) -> str:
        return (
            f"transaction {self.id} ({self.kind}, reference {self.reference!r}):"
            f" {self.entries} entries summing to {self.entries_sum}"
        )


@dataclass(frozen=True)
class LedgerReport:
    wallets: int
    transactions: int
    entries: int
    # Both must be zero: coins are never created or lost, only moved.
    entries_total: int
    balance_total: int
    bad_wallet_count: int
    bad_wallets: list[BadWallet]
    bad_transaction_count: int
    bad_transactions: list[BadTransaction]
    # Must cancel out: every coin owed is a receivable (wallet.ledger.debts).
    owed_total: int
    receivables_total: int
    seconds: float

    @property
    def ok(self) -> bool:
        return (
            self.bad_wallet_count == 0
            and self.bad_transaction_count == 0
            and self.entries_total == 0
            and self.balance_total == 0
            and self.owed_total + self.receivables_total == 0
        )

    def text(self) -> str:
        """A summary a person reads; names every bad wallet and transaction (up to
        NAMED_LIMIT of each)."""
        lines = [
            f"Ledger {'reconciles' if self.ok else 'DOES NOT RECONCILE'}:"
            f" {self.wallets} wallets, {self.transactions} transactions,"
            f" {self.entries} entries checked in {self.seconds:.2f} s.",
            f"Sum of all entries: {self.entries_total}; sum of all balances:"
            f" {self.balance_total} (both must be 0).",
            f"Owed by users: {self.owed_total}; receivables: {self.receivables_total}"
            " (must cancel out).",
        ]
        if self.bad_wallet_count:
            lines.append(f"{self.bad_wallet_count} bad wallet(s):")
            lines += [f"  {bad}" for bad in self.bad_wallets]
        if self.bad_transaction_count:
            lines.append(f"{self.bad_transaction_count} bad transaction(s):")
            lines += [f"  {bad}" for bad in self.bad_transactions]
        hidden = (self.bad_wallet_count - len(self.bad_wallets)) + (
            self.bad_transaction_count - len(self.bad_transactions)
        )
        if hidden:
            lines.append(f"  ... and {hidden} more not named.")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for a task result or a log record."""
        return {"ok": self.ok, **asdict(self)}


def ledger_check(*, named_limit: int = NAMED_LIMIT) -> LedgerReport:
    """Check the whole ledger in one consistent snapshot; never changes anything."""
    started = time.monotonic()
    params: dict[str, Any] = {
        "issuing": [str(kind) for kind in ISSUING_KINDS],
        "named": named_limit,
        "receivables": str(WalletKind.RECEIVABLES),
    }
    outermost = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if outermost:
            # Inside a caller's transaction (a test's) the snapshot is the caller's to choose.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        # The GROUP BYs hash millions of groups: room in memory keeps them off disk. LOCAL
        # ends with this transaction.
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute(_WALLETS_SQL, params)
        wallet_rows = cursor.fetchall()
        cursor.execute(_TRANSACTIONS_SQL, params)
        transaction_rows = cursor.fetchall()
        cursor.execute(_DEBTS_SQL, params)
        owed_total, receivables_total = cursor.fetchone()
    wallets, entries, entries_total, balance_total, bad_wallet_count = wallet_rows[0][:5]
    transactions, bad_transaction_count = transaction_rows[0][:2]
    return LedgerReport(
        wallets=wallets,
        transactions=transactions,
        entries=entries,
        entries_total=entries_total,
        balance_total=balance_total,
        bad_wallet_count=bad_wallet_count,
        bad_wallets=[BadWallet(*row[5:]) for row in wallet_rows if row[5] is not None],
        bad_transaction_count=bad_transaction_count,
        bad_transactions=[
            BadTransaction(*row[2:]) for row in transaction_rows if row[2] is not None
        ],
        owed_total=owed_total,
        receivables_total=receivables_total,
        seconds=time.monotonic() - started,
    )
