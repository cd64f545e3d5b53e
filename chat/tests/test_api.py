"""The chat REST doors against the real mongod (API.md, Chat): sending, idempotency,
validation, blocks, history, read marks, privacy and the rate limit."""

from itertools import count

import pytest
from django.urls import reverse

from accounts.models import Block
from chat.documents import Conversation, Message
from chat.services import MESSAGE_RATE
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]

SEND = "/api/v1/chat/messages"


_client_ids = count(1)


def send(client, to, text="hi", client_id=None):  # type: ignore[no-untyped-def]
    body = {"to": to, "text": text, "client_id": client_id or f"c-{next(_client_ids)}"}
    return client.post(SEND, body, format="json")


def test_send_stores_trimmed_text_and_answers_the_message(client_for, alice, bob):
    response = send(client_for(alice), bob.pk, "  hello  ", "c-1")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["text"] == "hello"
    assert body["sender_id"] == alice.pk and body["receiver_id"] == bob.pk
    assert body["status"] == "sent" and body["client_id"] == "c-1"
    assert isinstance(body["id"], str) and len(body["id"]) == 24
    stored = Message.objects.get(id=body["id"])
    assert stored.text == "hello" and stored.conversation_id == body["conversation_id"]
    assert body["created_at"].endswith("Z")


def test_the_same_client_id_twice_stores_one_message(client_for, alice, bob):
    client = client_for(alice)
    first = send(client, bob.pk, "one", "same")
    again = send(client, bob.pk, "one", "same")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json()
    assert Message.objects.count() == 1
    conversation = Conversation.objects.get()
    assert conversation.unread[str(bob.pk)] == 1


@pytest.mark.parametrize("text", ["$unread", "{$add: 1}", "$$NOW", "$last_message.text"])
def test_text_that_looks_like_a_mongodb_expression_is_stored_as_written(
    client_for, alice, bob, text
):
    body = send(client_for(alice), bob.pk, text).json()
    assert body["text"] == text
    assert Message.objects.get(id=body["id"]).text == text
    conversation = Conversation.objects.get()
    assert conversation.last_message["text"] == text
    assert conversation.unread == {str(alice.pk): 0, str(bob.pk): 1}


def test_the_same_client_id_from_another_sender_is_another_message(client_for, alice, bob):
    assert send(client_for(alice), bob.pk, "a", "same").status_code == 201
    assert send(client_for(bob), alice.pk, "b", "same").status_code == 201
    assert Message.objects.count() == 2
    assert Conversation.objects.count() == 1


@pytest.mark.parametrize("text", ["", "   \n\t ", "x" * 4001, " " + "x" * 4001])
def test_text_must_be_1_to_4000_characters_after_trimming(client_for, alice, bob, text):
    response = send(client_for(alice), bob.pk, text)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert Message.objects.count() == 0


def test_4000_characters_plus_whitespace_is_fine(client_for, alice, bob):
    response = send(client_for(alice), bob.pk, "  " + "x" * 4000 + "  ")
    assert response.status_code == 201
    assert len(response.json()["text"]) == 4000


def test_unknown_recipient_and_self(client_for, alice):
    assert send(client_for(alice), 999_999).status_code == 404
    response = send(client_for(alice), alice.pk)
    assert response.status_code == 400
    assert Message.objects.count() == 0


@pytest.mark.parametrize("blocker", ["alice", "bob"])
def test_blocked_either_way(client_for, alice, bob, blocker):
    if blocker == "alice":
        Block.objects.create(blocker=alice, blocked=bob)
    else:
        Block.objects.create(blocker=bob, blocked=alice)
    response = send(client_for(alice), bob.pk)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "blocked"
    assert Message.objects.count() == 0


def test_conversations_most_recent_first_with_unread_counts(client_for, alice, bob):
    carol = UserFactory.create()
    send(client_for(alice), bob.pk, "to bob 1")
    send(client_for(alice), bob.pk, "to bob 2")
    send(client_for(carol), alice.pk, "carol here")
    body = client_for(alice).get("/api/v1/chat/conversations").json()
    assert body["next"] is None
    first, second = body["results"]
    assert first["participants"] == sorted([alice.pk, carol.pk])
    assert first["unread_count"] == 1
    assert first["last_message"]["text"] == "carol here"
    assert second["unread_count"] == 0  # alice sent those
    assert second["last_message"]["text"] == "to bob 2"
    bobs = client_for(bob).get("/api/v1/chat/conversations").json()["results"]
    assert [c["unread_count"] for c in bobs] == [2]
    assert bobs[0]["id"] == second["id"]


def test_conversations_page_with_cursor(client_for, alice):
    others = UserFactory.create_batch(3)
    for other in others:
        send(client_for(other), alice.pk)
    client = client_for(alice)
    page = client.get("/api/v1/chat/conversations?limit=2").json()
    assert len(page["results"]) == 2 and page["next"]
    rest = client.get(f"/api/v1/chat/conversations?limit=2&cursor={page['next']}").json()
    assert len(rest["results"]) == 1 and rest["next"] is None
    seen = [c["participants"] for c in page["results"] + rest["results"]]
    assert seen == [sorted([alice.pk, o.pk]) for o in reversed(others)]


def test_messages_newest_first_with_before_cursor_and_capped_limit(client_for, alice, bob):
    client = client_for(alice)
    ids = [send(client, bob.pk, f"m{i}").json()["id"] for i in range(5)]
    conversation_id = Message.objects.get(id=ids[0]).conversation_id
    url = f"/api/v1/chat/conversations/{conversation_id}/messages"
    page = client.get(url, {"limit": 2}).json()
    assert [m["id"] for m in page["results"]] == [ids[4], ids[3]]
    assert page["next"] == ids[3]
    older = client_for(bob).get(url, {"before": page["next"], "limit": 2}).json()
    assert [m["id"] for m in older["results"]] == [ids[2], ids[1]]
    last = client.get(url, {"cursor": older["next"], "limit": 2}).json()
    assert [m["id"] for m in last["results"]] == [ids[0]] and last["next"] is None
    assert len(client.get(url, {"limit": 1000}).json()["results"]) == 5
    assert client.get(url, {"limit": "x"}).status_code == 400
    assert client.get(url, {"before": "nope"}).status_code == 400


def test_messages_limit_is_capped_at_100(client_for, alice, bob):
    conversation_id = send(client_for(alice), bob.pk).json()["conversation_id"]
    docs = [
        Message(
            conversation_id=conversation_id,
            sender_id=alice.pk,
            receiver_id=bob.pk,
            text="x",
            client_id=f"bulk-{i}",
            created_at=Message.objects.first().created_at,
        )
        for i in range(120)
    ]
    Message.objects.insert(docs)
    url = f"/api/v1/chat/conversations/{conversation_id}/messages?limit=500"
    page = client_for(bob).get(url).json()
    assert len(page["results"]) == 100 and page["next"]
    rest = client_for(bob).get(f"{url}&before={page['next']}").json()
    assert len(rest["results"]) == 21
    assert not {m["id"] for m in page["results"]} & {m["id"] for m in rest["results"]}


def test_only_participants_read_a_conversation_others_get_404(client_for, alice, bob):
    conversation_id = send(client_for(alice), bob.pk).json()["conversation_id"]
    stranger = client_for(UserFactory.create())
    for url in (
        f"/api/v1/chat/conversations/{conversation_id}/messages",
        "/api/v1/chat/conversations/000000000000000000000000/messages",
        "/api/v1/chat/conversations/not-an-id/messages",
    ):
        response = stranger.get(url)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    read = stranger.post(f"/api/v1/chat/conversations/{conversation_id}/read")
    assert read.status_code == 404
    assert Message.objects.get().status == "sent"


def test_read_marks_received_messages_and_zeroes_the_unread_count(client_for, alice, bob):
    mine = send(client_for(alice), bob.pk, "to bob").json()
    send(client_for(alice), bob.pk, "to bob again")
    theirs = send(client_for(bob), alice.pk, "to alice").json()
    url = f"/api/v1/chat/conversations/{mine['conversation_id']}/read"
    assert client_for(bob).post(url).status_code == 204
    statuses = {m.text: m.status for m in Message.objects}
    assert statuses == {"to bob": "read", "to bob again": "read", "to alice": "sent"}
    assert Message.objects.get(id=mine["id"]).read_at is not None
    conversation = Conversation.objects.get()
    assert conversation.unread == {str(alice.pk): 1, str(bob.pk): 0}
    assert client_for(bob).post(url).status_code == 204  # nothing left: still 0
    assert Conversation.objects.get().unread[str(bob.pk)] == 0
    assert theirs["status"] == "sent"


def test_message_rate_limit(client_for, alice, bob):
    client = client_for(alice)
    limit, _ = MESSAGE_RATE
    for _ in range(limit):
        assert send(client, bob.pk).status_code == 201
    response = send(client, bob.pk)
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "rate_limited" and error["details"]["retry_after"] > 0
    assert Message.objects.count() == limit
    retry = send(client, bob.pk, client_id=Message.objects.first().client_id)
    assert retry.status_code == 200  # a retry of a stored message is not limited
    assert send(client_for(bob), alice.pk).status_code == 201  # per user


def test_the_message_rate_limit_says_when_to_retry_like_every_429(client_for, alice, bob):
    client = client_for(alice)
    for _ in range(MESSAGE_RATE[0]):
        send(client, bob.pk)
    response = send(client, bob.pk)
    assert response.status_code == 429
    retry_after = response.json()["error"]["details"]["retry_after"]
    assert type(retry_after) is int and 1 <= retry_after <= MESSAGE_RATE[1]
    assert response["Retry-After"] == str(retry_after)


def test_urls_are_the_contracts():
    assert reverse("chat-messages") == SEND
    assert reverse("chat-conversations") == "/api/v1/chat/conversations"


def test_conversation_partners(client_for, alice, bob):
    from chat.selectors import conversation_partner_ids

    send(client_for(alice), bob.pk)
    assert conversation_partner_ids(user_id=alice.pk) == [bob.pk]
    assert conversation_partner_ids(user_id=bob.pk) == [alice.pk]
