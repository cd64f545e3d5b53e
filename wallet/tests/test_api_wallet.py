"""The read side of the wallet: GET /wallet, GET /wallet/transactions (one page, one or two
queries, newest first, keyset cursor, type filter, only the caller's own entries), and the
`wallet:balance` push after every committed change."""

import base64
from datetime import datetime

import pytest
from channels.db import database_sync_to_async
from django.db import transaction

from accounts.models import User
from tests.helpers import assert_error
from videochat.gateway.testing import open_socket, sync_thread_connections_closed  # noqa: F401
from videochat.pagination import cursor_encode
from wallet.ledger.models import EntryType, TransactionKind, Wallet
from wallet.ledger.services import (
    Leg,
    TransferResult,
    wallet_adjust,
    wallet_ensure,
    wallet_transfer,
)

WALLET = "/api/v1/wallet"
HISTORY = "/api/v1/wallet/transactions"


def gift(sender: User, receiver: User, coins: int, key: str, **metadata: object) -> TransferResult:
    return wallet_transfer(
        kind=TransactionKind.GIFT,
        idempotency_key=key,
        reference=f"gift:{key}",
        metadata=metadata,
        legs=[
            Leg(wallet_ensure(user_id=sender.pk), -coins, EntryType.GIFT_SENT),
            Leg(wallet_ensure(user_id=receiver.pk), coins, EntryType.GIFT_RECEIVED),
        ],
    )


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


# --- GET /wallet ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_wallet_shows_the_balance(client_for, alice):
    wallet_adjust(user_id=alice.pk, amount=120, idempotency_key="seed", reason="test")

    body = client_for(alice).get(WALLET).json()

    assert set(body) == {"balance", "withdrawable", "owed", "updated_at"}
    assert (body["balance"], body["withdrawable"]) == (120, 0)


# --- GET /wallet/transactions --------------------------------------------------------------


@pytest.mark.django_db
def test_history_lists_the_callers_entries_newest_first(client_for, alice, bob):
    wallet_adjust(user_id=alice.pk, amount=100, idempotency_key="seed", reason="internal note")
    sent = gift(alice, bob, 30, "g1", gift_id=4, gift_name="Rose", sender_ip="10.0.0.1")

    body = client_for(alice).get(HISTORY).json()

    assert set(body) == {"results", "next"}
    assert body["next"] is None
    entry = sent.transaction.entries.get(wallet__owner=alice)
    assert body["results"][0] == {
        "id": entry.pk,
        "type": "gift_sent",
        "amount": -30,
        "balance_after": 70,
        "reference": "gift:g1",
        "created_at": iso(entry.created_at),
        # Only keys meant for clients: not the sender's address from the same metadata.
        "details": {"gift_id": 4, "gift_name": "Rose"},
    }
    seed = body["results"][1]
    assert (seed["type"], seed["amount"], seed["balance_after"]) == ("adjustment", 100, 100)
    # A staff adjustment's reason is an internal note: it never reaches the client.
    assert seed["details"] == {}


@pytest.mark.django_db
def test_history_shows_only_the_callers_own_wallet(client_for, alice, bob):
    wallet_adjust(user_id=alice.pk, amount=100, idempotency_key="seed", reason="test")
    gift(alice, bob, 30, "g1")

    # Query parameters naming another wallet or user are no way in.
    body = client_for(bob).get(HISTORY, {"wallet": 1, "user_id": alice.pk}).json()

    assert [(e["type"], e["amount"]) for e in body["results"]] == [("gift_received", 30)]


@pytest.mark.django_db
def test_a_user_without_a_wallet_has_an_empty_history(client_for, alice):
    # The factory, unlike registration, makes no wallet; reading the history makes none.
    assert client_for(alice).get(HISTORY).json() == {"results": [], "next": None}
    assert not Wallet.objects.filter(owner=alice).exists()


@pytest.mark.django_db
def test_pages_follow_the_cursor_without_gaps_or_repeats(client_for, alice, bob):
    wallet_adjust(user_id=alice.pk, amount=100, idempotency_key="seed", reason="test")
    for n in range(6):
        gift(alice, bob, 1, f"g{n}")
    client = client_for(alice)

    first = client.get(HISTORY, {"limit": 3}).json()
    # Written between two pages: it belongs before the first page, and must not shift
    # the pages that follow.
    gift(alice, bob, 1, "late")
    second = client.get(HISTORY, {"limit": 3, "cursor": first["next"]}).json()
    third = client.get(HISTORY, {"limit": 3, "cursor": second["next"]}).json()

    ids = [e["id"] for page in (first, second, third) for e in page["results"]]
    assert [len(page["results"]) for page in (first, second, third)] == [3, 3, 1]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 7  # six gifts and the seed, the late one not among them
    assert third["next"] is None
    assert [e["balance_after"] for e in third["results"]] == [100]


@pytest.mark.django_db
def test_an_exactly_full_last_page_has_no_next(client_for, alice):
    wallet_adjust(user_id=alice.pk, amount=5, idempotency_key="a", reason="test")
    wallet_adjust(user_id=alice.pk, amount=5, idempotency_key="b", reason="test")

    assert client_for(alice).get(HISTORY, {"limit": 2}).json()["next"] is None


@pytest.mark.django_db
def test_the_type_filter_uses_the_contract_names(client_for, alice, bob):
    wallet_adjust(user_id=alice.pk, amount=100, idempotency_key="seed", reason="test")
    gift(alice, bob, 10, "g1")
    gift(alice, bob, 20, "g2")
    client = client_for(alice)

    sent = client.get(HISTORY, {"type": "gift_sent", "limit": 1}).json()
    more = client.get(HISTORY, {"type": "gift_sent", "cursor": sent["next"]}).json()

    assert [e["amount"] for e in sent["results"] + more["results"]] == [-20, -10]
    assert more["next"] is None
    assert client.get(HISTORY, {"type": "purchase"}).json() == {"results": [], "next": None}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kind", ["platform_fee", "payment", "gift", "GIFT_SENT", "gift_sent,purchase"]
)
def test_a_type_outside_the_contract_is_refused(client_for, alice, kind):
    error = assert_error(client_for(alice).get(HISTORY, {"type": kind}), 400, "validation_error")
    assert "type" in error["details"]


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not a cursor",
        "!!!!",
        b64("abc"),
        b64("-5"),
        b64("0"),
        b64(" 12"),
        b64("1_0"),
        b64("012"),
        b64("9" * 30),
        cursor_encode(12) + "==",
    ],
)
def test_a_tampered_or_invalid_cursor_is_a_validation_error(client_for, alice, cursor):
    error = assert_error(
        client_for(alice).get(HISTORY, {"cursor": cursor}), 400, "validation_error"
    )
    assert "cursor" in error["details"]


@pytest.mark.django_db
@pytest.mark.parametrize("limit", ["0", "101", "-1", "x", "1.5", ""])
def test_the_limit_is_1_to_100(client_for, alice, limit):
    error = assert_error(client_for(alice).get(HISTORY, {"limit": limit}), 400, "validation_error")
    assert "limit" in error["details"]


@pytest.mark.django_db
def test_the_default_page_is_20_and_the_largest_100(client_for, alice):
    for n in range(101):
        wallet_adjust(user_id=alice.pk, amount=1, idempotency_key=f"k{n}", reason="test")
    client = client_for(alice)

    assert len(client.get(HISTORY).json()["results"]) == 20
    page = client.get(HISTORY, {"limit": 100}).json()
    assert len(page["results"]) == 100
    assert page["next"] is not None


@pytest.mark.django_db
def test_a_page_costs_at_most_two_queries(client_for, alice, bob, django_assert_max_num_queries):
    wallet_adjust(user_id=alice.pk, amount=100, idempotency_key="seed", reason="test")
    for n in range(30):
        gift(alice, bob, 1, f"g{n}", gift_id=n, gift_name="Rose")
    client = client_for(alice)
    first = client.get(HISTORY).json()

    # The token's user, then the page with its transactions (no query per entry).
    with django_assert_max_num_queries(2):
        page = client.get(HISTORY, {"cursor": first["next"], "type": "gift_sent"})
    assert len(page.json()["results"]) == 10


# --- wallet:balance over the socket --------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_the_new_balance_is_pushed_after_a_transfer(alice, bob):
    await database_sync_to_async(wallet_adjust)(
        user_id=alice.pk, amount=50, idempotency_key="seed", reason="test"
    )
    async with open_socket(alice) as alice_socket, open_socket(bob) as bob_socket:
        await database_sync_to_async(gift)(alice, bob, 20, "g1")

        assert await alice_socket.receive_json_from(timeout=2) == {
            "type": "wallet:balance",
            "data": {"balance": 30},
        }
        assert await bob_socket.receive_json_from(timeout=2) == {
            "type": "wallet:balance",
            "data": {"balance": 20},
        }


@pytest.mark.django_db(transaction=True)
async def test_a_transfer_rolled_back_sends_nothing(alice, bob):
    await database_sync_to_async(wallet_adjust)(
        user_id=alice.pk, amount=50, idempotency_key="seed", reason="test"
    )

    def gift_then_roll_back() -> None:
        with transaction.atomic():
            gift(alice, bob, 20, "g1")
            transaction.set_rollback(True)

    async with open_socket(alice) as alice_socket, open_socket(bob) as bob_socket:
        await database_sync_to_async(gift_then_roll_back)()

        assert await alice_socket.receive_nothing(timeout=0.5)
        assert await bob_socket.receive_nothing(timeout=0.1)
        # A replay moves nothing and so announces nothing either.
        await database_sync_to_async(gift)(alice, bob, 20, "g2")
        await database_sync_to_async(gift)(alice, bob, 20, "g2")
        assert (await alice_socket.receive_json_from(timeout=2))["data"] == {"balance": 30}
        assert await alice_socket.receive_nothing(timeout=0.5)
