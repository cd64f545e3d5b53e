"""How messages reach MongoDB: group commit. Every message being stored in this process at
the same moment shares one transaction: the conversations' updates, then the messages'
insert, then the one commit that waits for the journal. Atomic per batch, so a crash never
leaves a stored message uncounted, nor a count without its message.

A transaction per message cost ~1.2 ms of mongod CPU and ~0.6 ms of ours; in batches of 8,
0.26 and 0.09 (docs/chat.md, Benchmark). A batch is whatever arrived while the previous one
was being written, so a quiet server writes each message at once and a busy one batches
more: latency grows with load only by the time of one transaction."""

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pymongo
from bson import ObjectId
from pymongo import UpdateOne
from pymongo.client_session import ClientSession
from pymongo.errors import BulkWriteError, DuplicateKeyError

from chat.documents import STATUS_SENT, Conversation, Message
from videochat.errors import store_unavailable

BATCH_MAX = 64
DUPLICATE_KEY = 11000
# The longest a batch may take, retries included: pymongo's with_transaction retries a
# transaction that fails on the network for 120 s, and every sender of the batch would wait
# that long while MongoDB is down. Past this the senders hear `service_unavailable`; a commit
# whose outcome was unknown may have stored the batch, and a retry with the same client_id
# then finds its message, so nothing acknowledged is ever lost and nothing is stored twice.
WRITE_TIMEOUT_SECONDS = 5


def now_ms() -> datetime:
    # MongoDB keeps milliseconds: round here so what we return equals what we stored.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass(frozen=True, slots=True)
class NewMessage:
    sender_id: int
    to: int
    text: str  # cleaned already
    client_id: str

    @property
    def pair(self) -> tuple[int, int]:
        low, high = sorted((self.sender_id, self.to))
        return low, high

    @property
    def key(self) -> str:
        return "{}:{}".format(*self.pair)


def _conversation_update(message: NewMessage, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One pipeline update of a pair's conversation for a new message (it creates the
    conversation on the first one): the recipient's unread count goes up, and the message
    becomes last_message unless a newer one got there first (concurrent senders; ties by id).
    The summary holds user text, hence $literal: a "$..." text is not a field path."""
    low, high = message.pair
    now = summary["created_at"]
    newer = {
        "$or": [
            {"$eq": [{"$ifNull": ["$last_message", None]}, None]},
            {"$lt": ["$updated_at", now]},
            {"$and": [{"$eq": ["$updated_at", now]}, {"$lt": ["$last_message.id", summary["id"]]}]},
        ]
    }
    to = message.to
    return [
        {
            "$set": {
                "participants": {"$literal": [low, high]},
                "unread": {
                    "$mergeObjects": [
                        {str(low): 0, str(high): 0},
                        "$unread",
                        {str(to): {"$add": [{"$ifNull": [f"$unread.{to}", 0]}, 1]}},
                    ]
                },
                "last_message": {"$cond": [newer, {"$literal": summary}, "$last_message"]},
                "updated_at": {"$cond": [newer, now, "$updated_at"]},
            }
        }
    ]


def messages_insert(batch: Sequence[NewMessage]) -> list[dict[str, Any]]:
    """Store the messages and update their conversations in one transaction; the stored
    documents, in order. Raises DuplicateKeyError when a client_id was stored before (or
    repeats in the batch) or two first messages of a pair raced: then nothing is stored."""
    messages = Message._get_collection()
    conversations = Conversation._get_collection()

    def write(session: ClientSession) -> list[dict[str, Any]]:
        # Per attempt: a transaction retried after a write conflict gets a fresh time. The
        # ids are made in order, so within a batch (one time) later messages sort later.
        now = now_ms()
        ids = [ObjectId() for _ in batch]
        conversations.bulk_write(
            [
                UpdateOne(
                    {"key": message.key},
                    _conversation_update(
                        message,
                        {
                            "id": str(message_id),
                            "sender_id": message.sender_id,
                            "text": message.text,
                            "created_at": now,
                        },
                    ),
                    upsert=True,
                )
                for message, message_id in zip(batch, ids, strict=True)
            ],
            session=session,
        )
        # Read back inside the transaction: the ones this batch created included.
        found = conversations.find(
            {"key": {"$in": list({message.key for message in batch})}},
            {"key": 1},
            session=session,
        )
        conversation_ids = {doc["key"]: str(doc["_id"]) for doc in found}
        documents = [
            {
                "_id": message_id,
                "conversation_id": conversation_ids[message.key],
                "sender_id": message.sender_id,
                "receiver_id": message.to,
                "text": message.text,
                "client_id": message.client_id,
                "status": STATUS_SENT,
                "created_at": now,
                "delivered_at": None,
                "read_at": None,
            }
            for message, message_id in zip(batch, ids, strict=True)
        ]
        messages.insert_many(documents, session=session)
        return documents

    try:
        with (
            pymongo.timeout(WRITE_TIMEOUT_SECONDS),
            messages.database.client.start_session() as session,
        ):
            return session.with_transaction(write)
    except BulkWriteError as error:
        if all(e.get("code") == DUPLICATE_KEY for e in error.details.get("writeErrors", [])):
            raise DuplicateKeyError(str(error), DUPLICATE_KEY, error.details) from error
        raise


@dataclass(slots=True)
class _Waiting:
    message: NewMessage
    done: threading.Event = field(default_factory=threading.Event)
    document: dict[str, Any] | None = None
    error: BaseException | None = None


class MessageWriter:
    """One writer thread per process takes every message waiting, up to BATCH_MAX, writes
    them as one transaction, and wakes their callers. When the batch fails on a duplicate key
    (a resent client_id, a race on a new pair), each message is written alone, so one
    message's refusal never costs the others theirs. When it fails because MongoDB is out
    of reach, the messages that queued meanwhile fail with it."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._waiting: list[_Waiting] = []
        self._owner_pid: int | None = None  # the process whose thread writes (fork safety)

    def store(self, message: NewMessage) -> dict[str, Any]:
        """The stored document; DuplicateKeyError as messages_insert() raises it."""
        waiting = _Waiting(message)
        with self._ready:
            if self._owner_pid != os.getpid():
                self._owner_pid = os.getpid()
                self._waiting = []
                threading.Thread(
                    target=self._write_forever, name="chat-writer", daemon=True
                ).start()
            self._waiting.append(waiting)
            self._ready.notify()
        waiting.done.wait()
        if waiting.error is not None:
            raise waiting.error
        assert waiting.document is not None
        return waiting.document

    def _write_forever(self) -> None:
        while True:
            with self._ready:
                while not self._waiting:
                    self._ready.wait()
                batch, self._waiting = self._waiting[:BATCH_MAX], self._waiting[BATCH_MAX:]
            self._write(batch)

    def _write(self, batch: list[_Waiting]) -> None:
        try:
            documents = messages_insert([waiting.message for waiting in batch])
        except DuplicateKeyError:
            if len(batch) > 1:
                for waiting in batch:
                    self._write([waiting])
                return
            batch[0].error = DuplicateKeyError("a client_id or pair key was taken")
        except Exception as error:  # MongoDB unreachable, ...: every caller hears of it
            if store_unavailable(error):
                # What queued meanwhile would wait for the same outage, then fail the same
                # way: it fails now, so no sender waits longer than one batch's bound.
                with self._ready:
                    batch, self._waiting = batch + self._waiting, []
            for waiting in batch:
                waiting.error = error
        else:
            for waiting, document in zip(batch, documents, strict=True):
                waiting.document = document
        for waiting in batch:
            waiting.done.set()


message_writer = MessageWriter()
