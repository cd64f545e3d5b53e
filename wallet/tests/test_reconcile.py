"""reconcile_ledger: passes on a healthy ledger, and on a corrupted one exits non-zero naming
each bad wallet and transaction."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from wallet.ledger.models import Entry, EntryType, Transaction, TransactionKind, Wallet
from wallet.ledger.reconcile import ledger_check
from wallet.ledger.services import Leg, wallet_adjust, wallet_ensure, wallet_transfer
from wallet.ledger.tasks import ledger_reconcile


@pytest.fixture
def ledger(alice, bob):
    """A few movements: alice gets 100 coins, gifts 30 to bob, bob gifts 5 back."""
    wallet_adjust(user_id=alice.pk, amount=100, idempotency_key="seed", reason="test")
    a, b = wallet_ensure(user_id=alice.pk), wallet_ensure(user_id=bob.pk)
    for key, src, dst, coins in [("g1", a, b, 30), ("g2", b, a, 5)]:
        wallet_transfer(
            kind=TransactionKind.GIFT,
            idempotency_key=key,
            legs=[Leg(src, -coins, EntryType.GIFT_SENT), Leg(dst, coins, EntryType.GIFT_RECEIVED)],
        )
    return a, b


def sql(statement: str, params: list[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def reconcile() -> tuple[str, str | None]:
    """The command's output, and its error when it failed."""
    out = StringIO()
    try:
        call_command("reconcile_ledger", stdout=out)
    except CommandError as error:
        return out.getvalue(), str(error)
    return out.getvalue(), None


@pytest.mark.django_db
def test_a_healthy_ledger_reconciles(ledger):
    output, error = reconcile()

    assert error is None
    assert output.startswith("Ledger reconciles: 98 wallets, 3 transactions, 6 entries")
    assert "Sum of all entries: 0; sum of all balances: 0" in output
    report = ledger_check()
    assert report.ok
    assert (report.wallets, report.transactions, report.entries) == (98, 3, 6)
    # A task's result must be JSON.
    assert json.loads(json.dumps(report.as_dict()))["ok"] is True


@pytest.mark.django_db
def test_an_empty_ledger_reconciles():
    output, error = reconcile()

    assert error is None
    # The system wallets exist from the start, with nothing in them.
    assert output.startswith("Ledger reconciles: 96 wallets, 0 transactions, 0 entries")


@pytest.mark.django_db
def test_a_balance_changed_behind_the_ledger_is_named(ledger, alice):
    a, _ = ledger
    sql("UPDATE wallet_wallet SET balance = balance + 7 WHERE id = %s", [a])

    output, error = reconcile()

    assert error == "The ledger does not reconcile (details above)."
    assert "DOES NOT RECONCILE" in output
    assert "1 bad wallet(s):" in output
    assert (
        f"wallet {a} (user, user {alice.pk}): balance 82, entries sum 75,"
        " last entry's balance_after 75" in output
    )
    # Coins appeared from nowhere: the balances no longer sum to zero.
    assert "sum of all balances: 7" in output
    assert "bad transaction" not in output


@pytest.mark.django_db
def test_an_entry_changed_behind_the_ledger_names_its_wallet_and_transaction(ledger):
    _, b = ledger
    gift = Transaction.objects.get(idempotency_key="g1")
    sql(
        "UPDATE wallet_entry SET amount = 31 WHERE transaction_id = %s AND wallet_id = %s",
        [gift.pk, b],
    )

    report = ledger_check()

    assert not report.ok
    assert [w.id for w in report.bad_wallets] == [b]
    assert report.bad_wallets[0].entries_sum == 26
    assert report.entries_total == 1
    assert [(t.id, t.entries_sum, t.entries) for t in report.bad_transactions] == [(gift.pk, 1, 2)]
    assert f"transaction {gift.pk} (gift, reference ''): 2 entries summing to 1" in report.text()


@pytest.mark.django_db
def test_a_last_entry_that_disagrees_with_the_balance_is_named(ledger):
    a, _ = ledger
    last = Entry.objects.filter(wallet_id=a).latest("id")
    sql("UPDATE wallet_entry SET balance_after = 0 WHERE id = %s", [last.pk])

    report = ledger_check()

    assert [(w.id, w.balance, w.entries_sum, w.last_balance_after) for w in report.bad_wallets] == [
        (a, 75, 75, 0)
    ]


@pytest.mark.django_db
def test_a_transaction_without_entries_is_named(ledger):
    empty = Transaction.objects.create(
        kind=TransactionKind.GIFT, idempotency_key="ghost", fingerprint="x", reference="gift:9"
    )

    report = ledger_check()

    assert report.bad_transaction_count == 1
    assert report.bad_transactions[0].id == empty.pk
    assert "0 entries summing to 0" in report.text()


@pytest.mark.django_db
def test_only_so_many_are_named_but_all_are_counted(ledger):
    sql("UPDATE wallet_wallet SET balance = balance + 1 WHERE kind = 'platform_revenue'", [])

    report = ledger_check(named_limit=3)

    assert report.bad_wallet_count == 16
    assert len(report.bad_wallets) == 3
    assert "... and 13 more not named." in report.text()


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_it_checks_one_read_only_snapshot(ledger):
    # The path the command and the daily task take (tests above run inside a transaction).
    report = ledger_check()

    assert report.ok
    assert report.entries == 6
    assert connection.get_autocommit()


@pytest.mark.django_db
def test_the_daily_task_reports_a_broken_ledger(caplog):
    assert ledger_reconcile()["ok"] is True
    Wallet.objects.filter(pk=1).update(balance=5)
    with caplog.at_level("ERROR", logger="wallet.ledger.tasks"):
        assert ledger_reconcile()["ok"] is False
    assert "DOES NOT RECONCILE" in caplog.text
