"""The transfer primitive: double entry, no negative balance, exactly once per key."""

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django_redis import get_redis_connection

from tests.helpers import wallet_balance
from videochat.errors import IdempotencyMismatch, InsufficientFunds
from wallet.ledger.models import Entry, EntryType, Transaction, TransactionKind, Wallet, WalletKind
from wallet.ledger.services import (
    Leg,
    TransferResult,
    system_wallet_id,
    wallet_adjust,
    wallet_ensure,
    wallet_transfer,
)

pytestmark = pytest.mark.django_db


def pay(src: int, dst: int, amount: int, key: str) -> TransferResult:
    return wallet_transfer(
        kind=TransactionKind.GIFT,
        idempotency_key=key,
        legs=[Leg(src, -amount, EntryType.GIFT_SENT), Leg(dst, amount, EntryType.GIFT_RECEIVED)],
    )


@pytest.fixture
def funded(alice, bob):
    """alice with 100 coins, bob with none."""
    wallet_adjust(user_id=alice.pk, amount=100, idempotency_key="seed:alice", reason="test")
    return wallet_ensure(user_id=alice.pk), wallet_ensure(user_id=bob.pk)


def test_a_transfer_writes_entries_that_sum_to_zero(funded):
    a, b = funded
    result = pay(a, b, 30, "t1")
    assert (wallet_balance(a), wallet_balance(b)) == (70, 30)
    entries = Entry.objects.filter(transaction=result.transaction).order_by("amount")
    assert [(e.wallet_id, e.amount, e.balance_after, e.type) for e in entries] == [
        (a, -30, 70, "gift_sent"),
        (b, 30, 30, "gift_received"),
    ]
    assert result.balances == {a: 70, b: 30}
    assert not result.replayed


def test_the_same_key_moves_coins_once(funded):
    a, b = funded
    first = pay(a, b, 30, "t1")
    again = pay(a, b, 30, "t1")
    assert again.replayed
    assert again.transaction.pk == first.transaction.pk
    assert again.balances == {a: 70, b: 30}
    assert (wallet_balance(a), wallet_balance(b)) == (70, 30)
    assert Transaction.objects.filter(idempotency_key="t1").count() == 1


def test_the_same_key_for_another_movement_is_a_mismatch(funded):
    a, b = funded
    pay(a, b, 30, "t1")
    with pytest.raises(IdempotencyMismatch):
        pay(a, b, 31, "t1")
    assert (wallet_balance(a), wallet_balance(b)) == (70, 30)


def test_overdraft_is_refused_and_moves_nothing(funded):
    a, b = funded
    with pytest.raises(InsufficientFunds) as raised:
        pay(a, b, 101, "t1")
    assert raised.value.details == {"balance": 100, "needed": 101}
    assert (wallet_balance(a), wallet_balance(b)) == (100, 0)
    # The refused attempt did not use up its key: it can succeed once money is there.
    assert not Transaction.objects.filter(idempotency_key="t1").exists()


def test_the_database_refuses_a_negative_user_balance_too(funded):
    a, _ = funded
    with pytest.raises(IntegrityError), transaction.atomic():
        Wallet.objects.filter(pk=a).update(balance=-1)


def test_a_refusal_inside_a_callers_transaction_leaves_it_usable(funded):
    a, b = funded
    with transaction.atomic():
        with pytest.raises(InsufficientFunds):
            pay(a, b, 500, "big")
        pay(a, b, 5, "small")
    assert (wallet_balance(a), wallet_balance(b)) == (95, 5)


@pytest.mark.parametrize(
    "legs",
    [
        [(1, -5)],  # one leg
        [(1, -5), (2, 4)],  # does not sum to zero
        [(1, 0), (2, 0)],  # zero amounts
        [(1, -5), (1, 5)],  # the same wallet twice
    ],
)
def test_malformed_transfers_are_programming_errors(funded, legs):
    with pytest.raises(ValueError):
        wallet_transfer(
            kind=TransactionKind.ADJUSTMENT,
            idempotency_key="bad",
            legs=[Leg(w, amount, EntryType.ADJUSTMENT) for w, amount in legs],
        )


def test_float_amounts_are_refused(funded):
    a, b = funded
    with pytest.raises(TypeError):
        wallet_transfer(
            kind=TransactionKind.GIFT,
            idempotency_key="f",
            legs=[Leg(a, -1.5, EntryType.GIFT_SENT), Leg(b, 1.5, EntryType.GIFT_RECEIVED)],  # type: ignore[arg-type]
        )


def test_system_wallet_shards_are_fixed_by_key():
    first = system_wallet_id(kind=WalletKind.PLATFORM_REVENUE, key="call:1:minute:1")
    assert first == system_wallet_id(kind=WalletKind.PLATFORM_REVENUE, key="call:1:minute:1")
    shards = {
        system_wallet_id(kind=WalletKind.PLATFORM_REVENUE, key=f"call:1:minute:{n}")
        for n in range(200)
    }
    assert len(shards) == 16
    assert Wallet.objects.filter(pk__in=shards, kind=WalletKind.PLATFORM_REVENUE).count() == 16


def test_user_wallets_live_above_the_system_ids(alice):
    assert wallet_ensure(user_id=alice.pk) > 1000
    assert wallet_ensure(user_id=alice.pk) == wallet_ensure(user_id=alice.pk)


def test_balance_pushes_go_to_owners_after_commit(
    funded, alice, bob, django_capture_on_commit_callbacks
):
    a, b = funded
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]  # type: ignore[index]
    listener = get_redis_connection("default").pubsub()
    listener.subscribe(*(f"{prefix}__group__user.{user.pk}" for user in (alice, bob)))
    listener.get_message(timeout=1)
    listener.get_message(timeout=1)  # the two subscribe confirmations
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        pay(a, b, 10, "push")
    assert listener.get_message(timeout=0.2) is None  # nothing before commit
    for callback in callbacks:
        callback()
    channels = set()
    for _ in range(2):
        message = listener.get_message(timeout=2)
        assert message is not None and message["type"] == "message"
        channels.add(message["channel"].decode())
    listener.close()
    # One push per user wallet touched (alice and bob); system wallets have no owner.
    assert channels == {f"{prefix}__group__user.{user.pk}" for user in (alice, bob)}


def test_adjustment_can_take_back_only_what_is_there(funded, alice):
    with pytest.raises(InsufficientFunds):
        wallet_adjust(user_id=alice.pk, amount=-101, idempotency_key="take", reason="test")
    wallet_adjust(user_id=alice.pk, amount=-100, idempotency_key="take", reason="test")
    assert wallet_balance(wallet_ensure(user_id=alice.pk)) == 0


def test_entries_always_sum_to_zero_overall(funded):
    a, b = funded
    pay(a, b, 10, "x1")
    pay(b, a, 5, "x2")
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(SUM(amount), 0), COUNT(*) FROM wallet_entry")
        total, count = cursor.fetchone()
    assert (total, count) == (0, 6)
