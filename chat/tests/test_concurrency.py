"""Many concurrent writers on one conversation against the real mongod: one conversation
document, unread counts equal to the unread messages, last_message the newest one."""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest

from chat.documents import Conversation, Message
from chat.services import conversation_mark_read, message_store

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]

SENDS_EACH = 25


def _newest(conversation_id: str) -> Message:
    return Message.objects(conversation_id=conversation_id).order_by("-created_at", "-id").first()


def test_many_concurrent_senders_keep_counts_and_last_message_right(alice, bob):
    jobs = [(alice.pk, bob.pk, i) for i in range(SENDS_EACH)]
    jobs += [(bob.pk, alice.pk, i) for i in range(SENDS_EACH)]
    barrier = Barrier(16)

    def one(job: tuple[int, int, int]) -> str:
        sender_id, to, i = job
        if i < 8:
            barrier.wait(timeout=10)  # the first messages race on the conversation upsert
        message, created = message_store(
            sender_id=sender_id, to=to, text=f"{sender_id}-{i}", client_id=f"c-{i}"
        )
        assert created
        return str(message.id)

    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(one, jobs))

    assert len(set(ids)) == 2 * SENDS_EACH
    conversation = Conversation.objects.get()
    assert conversation.unread == {str(alice.pk): SENDS_EACH, str(bob.pk): SENDS_EACH}
    newest = _newest(str(conversation.id))
    assert conversation.last_message["id"] == str(newest.id)
    assert conversation.updated_at == newest.created_at


def test_repeated_client_ids_under_concurrency_store_one_message(alice, bob):
    barrier = Barrier(10)

    def one(_: int) -> str:
        barrier.wait(timeout=10)
        message, _created = message_store(sender_id=alice.pk, to=bob.pk, text="x", client_id="k")
        return str(message.id)

    with ThreadPoolExecutor(max_workers=10) as pool:
        ids = set(pool.map(one, range(10)))
    assert len(ids) == 1
    assert Message.objects.count() == 1
    assert Conversation.objects.get().unread[str(bob.pk)] == 1


def test_reads_racing_sends_leave_the_unread_count_equal_to_unread_messages(alice, bob):
    first, _ = message_store(sender_id=alice.pk, to=bob.pk, text="start", client_id="s")

    def send(i: int) -> None:
        message_store(sender_id=alice.pk, to=bob.pk, text=f"m{i}", client_id=f"c-{i}")

    def read(_: int) -> None:
        conversation_mark_read(user_id=bob.pk, conversation_id=first.conversation_id)

    with ThreadPoolExecutor(max_workers=12) as pool:
        futures = [pool.submit(send, i) for i in range(30)]
        futures += [pool.submit(read, i) for i in range(10)]
        for future in futures:
            future.result()

    unread = Message.objects(receiver_id=bob.pk, status__ne="read").count()
    assert Conversation.objects.get().unread[str(bob.pk)] == unread
    read(0)
    assert Conversation.objects.get().unread[str(bob.pk)] == 0
    assert Message.objects(status__ne="read").count() == 0
