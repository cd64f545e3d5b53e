"""Group commit (chat/writer.py) against the real mongod: messages stored at the same moment
share a transaction, and one refused message (a resent client_id) costs the others nothing."""

import time
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import DuplicateKeyError, PyMongoError

from chat import writer
from chat.documents import Conversation, Message
from chat.services import message_store
from chat.writer import NewMessage, messages_insert
from videochat.errors import store_unavailable

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]


def test_messages_stored_at_the_same_moment_share_a_transaction(alice, bob, monkeypatch):
    sizes: list[int] = []

    def recorded(batch):  # type: ignore[no-untyped-def]
        sizes.append(len(batch))
        return messages_insert(batch)

    monkeypatch.setattr(writer, "messages_insert", recorded)
    barrier = Barrier(12)

    def one(i: int) -> str:
        barrier.wait(timeout=10)
        message, created = message_store(
            sender_id=alice.pk, to=bob.pk, text=f"m{i}", client_id=f"c{i}"
        )
        assert created
        return message.text

    with ThreadPoolExecutor(max_workers=12) as pool:
        texts = list(pool.map(one, range(12)))
    assert texts == [f"m{i}" for i in range(12)]  # each caller got its own message
    assert sum(sizes) == 12 and max(sizes) > 1
    assert Message.objects.count() == 12
    assert Conversation.objects.get().unread[str(bob.pk)] == 12


def test_a_resent_client_id_in_a_batch_costs_the_others_nothing(alice, bob):
    first, _ = message_store(sender_id=alice.pk, to=bob.pk, text="first", client_id="taken")
    batch = [
        NewMessage(sender_id=alice.pk, to=bob.pk, text="new one", client_id="fresh-1"),
        NewMessage(sender_id=alice.pk, to=bob.pk, text="resent", client_id="taken"),
        NewMessage(sender_id=bob.pk, to=alice.pk, text="new two", client_id="fresh-2"),
    ]
    barrier = Barrier(len(batch))

    def one(message: NewMessage) -> tuple[str, bool]:
        barrier.wait(timeout=10)
        stored, created = message_store(
            sender_id=message.sender_id,
            to=message.to,
            text=message.text,
            client_id=message.client_id,
        )
        return str(stored.id), created

    with ThreadPoolExecutor(max_workers=len(batch)) as pool:
        results = list(pool.map(one, batch))
    assert results[1] == (str(first.id), False)
    assert results[0][1] and results[2][1]
    assert sorted(Message.objects.scalar("text")) == ["first", "new one", "new two"]
    assert Conversation.objects.get().unread == {str(alice.pk): 1, str(bob.pk): 2}


def test_a_batch_with_a_taken_client_id_stores_nothing(alice, bob):
    message_store(sender_id=alice.pk, to=bob.pk, text="first", client_id="taken")
    with pytest.raises(DuplicateKeyError):
        messages_insert(
            [
                NewMessage(sender_id=bob.pk, to=alice.pk, text="would be new", client_id="x"),
                NewMessage(sender_id=alice.pk, to=bob.pk, text="resent", client_id="taken"),
            ]
        )
    assert list(Message.objects.scalar("text")) == ["first"]
    assert Conversation.objects.get().unread == {str(alice.pk): 0, str(bob.pk): 1}


@pytest.fixture
def mongodb_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chat documents' collections on a client of a mongod that is not there."""
    nowhere: MongoClient[dict[str, Any]] = MongoClient(port=1, serverSelectionTimeoutMS=200)
    for document in (Message, Conversation):
        collection = nowhere["chat"][document._get_collection_name()]
        monkeypatch.setattr(document, "_get_collection", lambda c=collection: c)


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.usefixtures("mongodb_gone")
def test_a_batch_fails_in_bounded_time_when_mongodb_is_gone(alice, bob):
    # pymongo's with_transaction retries a transaction that fails on the network for up to
    # 120 s, while every sender in the batch waits: the writer bounds it.
    started = time.monotonic()
    with pytest.raises(PyMongoError) as raised:
        messages_insert([NewMessage(sender_id=alice.pk, to=bob.pk, text="hi", client_id="c")])
    assert time.monotonic() - started < writer.WRITE_TIMEOUT_SECONDS + 5
    assert store_unavailable(raised.value) == "mongo"  # answered 503 service_unavailable


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.usefixtures("mongodb_gone")
def test_messages_queued_behind_a_failing_batch_fail_with_it(alice, bob):
    # Without this, a message that arrives while a batch fails waits for that batch, then
    # for its own to fail the same way: twice the bound.
    def send(client_id: str) -> float:
        started = time.monotonic()
        with pytest.raises(PyMongoError):
            message_store(sender_id=alice.pk, to=bob.pk, text="hi", client_id=client_id)
        return time.monotonic() - started

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(send, "first")
        time.sleep(1)  # the first batch is being tried
        second = pool.submit(send, "second")
        waited = first.result(), second.result()
    assert max(waited) < writer.WRITE_TIMEOUT_SECONDS + 1, waited
