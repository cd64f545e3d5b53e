"""wallet_transfer_batch, the primitive under the billing tick: the same outcome as
wallet_transfer called for each request in turn, with every one of its guarantees."""

import threading

import pytest
from django.db import connection, connections

from calls.tests.billing_helpers import record_pushes
from tests.factories import UserFactory
from tests.helpers import wallet_balance
from videochat.errors import IdempotencyMismatch, InsufficientFunds
from wallet.ledger.models import Entry, EntryType, Transaction, TransactionKind, Wallet, WalletKind
from wallet.ledger.reconcile import ledger_check
from wallet.ledger.services import (
    Leg,
    TransferRequest,
    system_wallet_id,
    wallet_adjust,
    wallet_ensure,
    wallet_transfer,
    wallet_transfer_batch,
)

pytestmark = pytest.mark.django_db


def gift(src: int, dst: int, amount: int, key: str) -> TransferRequest:
    return TransferRequest(
        kind=TransactionKind.GIFT,
        idempotency_key=key,
        legs=[Leg(src, -amount, EntryType.GIFT_SENT), Leg(dst, amount, EntryType.GIFT_RECEIVED)],
        reference="test",
    )


def funded_wallets(*coins: int) -> list[int]:
    """One user wallet per amount, holding it."""
    wallets = []
    for amount in coins:
        user = UserFactory.create()
        if amount:
            wallet_adjust(user_id=user.pk, amount=amount, idempotency_key=f"f{user.pk}", reason="t")
        wallets.append(wallet_ensure(user_id=user.pk))
    return wallets


def history(wallet_id: int) -> list[tuple[int, int]]:
    entries = Entry.objects.filter(wallet_id=wallet_id).order_by("id")
    return list(entries.values_list("amount", "balance_after"))


def test_a_wallet_in_several_transfers_gets_exact_balances_after():
    a, b, c = funded_wallets(100, 0, 0)
    results = wallet_transfer_batch(
        chains=[[gift(a, b, 10, "k1"), gift(a, c, 20, "k2")], [gift(b, c, 5, "k3")]]
    )
    assert [(r.done, r.refusal) for r in results] == [(2, None), (1, None)]
    assert results[0].balances == {a: 70, b: 10, c: 20}
    assert results[1].balances == {b: 5, c: 25}
    assert (wallet_balance(a), wallet_balance(b), wallet_balance(c)) == (70, 5, 25)
    assert history(a)[1:] == [(-10, 90), (-20, 70)]
    assert history(c) == [(20, 20), (5, 25)]
    assert ledger_check().ok


def test_a_refusal_stops_its_chain_only_and_leaves_its_keys_unused():
    a, b, c = funded_wallets(15, 50, 0)
    results = wallet_transfer_batch(
        chains=[
            [gift(a, c, 10, "a1"), gift(a, c, 10, "a2"), gift(a, c, 1, "a3")],
            [gift(b, c, 50, "b1")],
        ]
    )
    assert (results[0].done, results[1].done) == (1, 1)
    assert isinstance(results[0].refusal, InsufficientFunds)
    assert results[0].refusal.details == {"balance": 5, "needed": 10}
    # a3 would have fitted in the 5 coins left; it comes after a refused one, so it waits.
    assert (wallet_balance(a), wallet_balance(b), wallet_balance(c)) == (5, 0, 60)
    assert not Transaction.objects.filter(idempotency_key__in=["a2", "a3"]).exists()
    # The unused keys work later, through either primitive.
    wallet_transfer_batch(chains=[[gift(a, c, 5, "a2")]])
    assert wallet_balance(a) == 0
    assert ledger_check().ok


def test_a_key_used_before_moves_nothing_again():
    a, b = funded_wallets(100, 0)
    first = wallet_transfer(
        kind=TransactionKind.GIFT,
        idempotency_key="once",
        legs=gift(a, b, 30, "once").legs,
        reference="test",
    )
    results = wallet_transfer_batch(chains=[[gift(a, b, 30, "once"), gift(a, b, 1, "next")]])
    assert (results[0].done, results[0].refusal) == (2, None)
    assert (wallet_balance(a), wallet_balance(b)) == (69, 31)
    assert Transaction.objects.filter(idempotency_key="once").get().pk == first.transaction.pk
    # And the other way round: a batch's transfer is recognised by wallet_transfer.
    again = wallet_transfer(
        kind=TransactionKind.GIFT,
        idempotency_key="next",
        legs=gift(a, b, 1, "next").legs,
        reference="test",
    )
    assert again.replayed
    assert (wallet_balance(a), wallet_balance(b)) == (69, 31)


def test_a_key_used_for_another_movement_is_refused_as_a_mismatch():
    a, b = funded_wallets(100, 0)
    wallet_transfer_batch(chains=[[gift(a, b, 30, "k")]])
    [result] = wallet_transfer_batch(chains=[[gift(a, b, 31, "k"), gift(a, b, 1, "after")]])
    assert result.done == 0
    assert isinstance(result.refusal, IdempotencyMismatch)
    assert (wallet_balance(a), wallet_balance(b)) == (70, 30)
    assert not Transaction.objects.filter(idempotency_key="after").exists()


def test_issuing_wallets_may_go_negative_and_user_wallets_may_not():
    [a] = funded_wallets(0)
    issuer = system_wallet_id(kind=WalletKind.ADJUSTMENTS, key="x")
    grant = TransferRequest(
        kind=TransactionKind.ADJUSTMENT,
        idempotency_key="grant",
        legs=[Leg(a, 5, EntryType.ADJUSTMENT), Leg(issuer, -5, EntryType.ADJUSTMENT)],
    )
    [result] = wallet_transfer_batch(chains=[[grant]])
    assert result.done == 1
    assert wallet_balance(a) == 5


@pytest.mark.parametrize(
    "chains",
    [
        [[("k", 1, 2, 5)], [("k", 1, 2, 5)]],  # a key twice in one batch
        [[("k", 1, 1, 5)]],  # the same wallet twice in one transfer
        [[("k", 1, 2, 0)]],  # zero amounts
    ],
)
def test_malformed_batches_are_programming_errors(chains):
    a, b = funded_wallets(100, 0)
    wallets = {1: a, 2: b}
    with pytest.raises(ValueError):
        wallet_transfer_batch(
            chains=[
                [gift(wallets[src], wallets[dst], amount, key) for key, src, dst, amount in chain]
                for chain in chains
            ]
        )
    assert not Transaction.objects.filter(idempotency_key="k").exists()


def test_an_unknown_wallet_is_an_error_and_moves_nothing():
    [a] = funded_wallets(100)
    with pytest.raises(ValueError):
        wallet_transfer_batch(chains=[[gift(a, 10**9, 5, "k")]])
    assert wallet_balance(a) == 100


def test_an_empty_batch_does_nothing():
    assert wallet_transfer_batch(chains=[]) == []
    assert wallet_transfer_batch(chains=[[]])[0].done == 0


def test_each_user_gets_one_push_with_the_final_balance(
    monkeypatch, django_capture_on_commit_callbacks
):
    pushes = record_pushes(monkeypatch)
    a, b, c = funded_wallets(100, 0, 0)
    owners = dict(Wallet.objects.filter(pk__in=[a, b, c]).values_list("pk", "owner_id"))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        wallet_transfer_batch(
            chains=[[gift(a, b, 10, "1"), gift(a, c, 10, "2"), gift(a, b, 1, "3")]]
        )
    # One callback for the whole batch: every push goes out in one pipeline.
    assert len(callbacks) == 1
    assert sorted(pushes) == sorted(
        [
            (owners[a], "wallet:balance", {"balance": 79}),
            (owners[b], "wallet:balance", {"balance": 11}),
            (owners[c], "wallet:balance", {"balance": 10}),
        ]
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_sharing_wallets_and_keys_neither_deadlock_nor_double_charge():
    payers = funded_wallets(*[1000] * 6)
    payees = funded_wallets(*[0] * 3)
    # Every batch pays every payee from every payer, keys shared between batches and
    # listed in a different order in each.
    requests = [
        gift(payer, payee, 1, f"p{i}-q{j}")
        for i, payer in enumerate(payers)
        for j, payee in enumerate(payees)
    ]
    orders = [requests, requests[::-1], requests[3:] + requests[:3], requests[::2] + requests[1::2]]
    errors: list[BaseException] = []
    start = threading.Barrier(len(orders))

    def run(order: list[TransferRequest]) -> None:
        try:
            start.wait()
            for _ in range(3):
                wallet_transfer_batch(chains=[[request] for request in order])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(order,)) for order in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert [wallet_balance(w) for w in payers] == [997] * 6
    assert [wallet_balance(w) for w in payees] == [6] * 3
    assert Transaction.objects.filter(kind=TransactionKind.GIFT).count() == len(requests)
    report = ledger_check()
    assert report.ok, report.text()
    connection.close()
