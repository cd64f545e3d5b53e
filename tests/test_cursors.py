"""Every paging parameter of the API refuses a crafted value with 400 `validation_error`,
never a 500: garbage, numbers out of any range, signs, other types, base64 of junk."""

import base64

import pytest

from chat.services import message_send
from tests.helpers import assert_error

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


CRAFTED = {
    "garbage": "garbage",
    "punctuation": "!!!$%^",
    "empty": "",
    "nul": "\x00",
    "unicode": "écrit-☃",
    "very long": "A" * 5000,
    "b64 junk bytes": b64(b"\xff\xfe\x00\x01junk"),
    "b64 text": b64(b"hello"),
    "b64 negative": b64(b"-1"),
    "b64 zero": b64(b"0"),
    "b64 leading zeros": b64(b"007"),
    "b64 decimal": b64(b"1.5"),
    "b64 spaces": b64(b" 5 "),
    "b64 beyond int64": b64(b"9" * 19),
    "b64 far beyond int64": b64(b"9" * 40),
    "b64 int64 max + 1": b64(str(2**63).encode()),
    "b64 json": b64(b'{"id": 1}'),
    "object id unknown": "0123456789abcdef01234567",
    "object id shaped junk": "zzzzzzzzzzzzzzzzzzzzzzzz",
}

NEAR: dict[str, object] = {"lat": 48.85, "lon": 2.35, "radius_km": 50}


def lists(conversation_id: str) -> dict[str, tuple[str, dict[str, object], str]]:
    """Each paged list: (path, other query, name of the paging parameter)."""
    messages = f"/api/v1/chat/conversations/{conversation_id}/messages"
    return {
        "presence online": ("/api/v1/presence/online", {}, "cursor"),
        "presence nearby": ("/api/v1/presence/nearby", NEAR, "cursor"),
        "wallet transactions": ("/api/v1/wallet/transactions", {}, "cursor"),
        "withdrawals": ("/api/v1/withdrawals", {}, "cursor"),
        "calls": ("/api/v1/calls", {}, "cursor"),
        "chat conversations": ("/api/v1/chat/conversations", {}, "cursor"),
        "chat messages (cursor)": (messages, {}, "cursor"),
        "chat messages (before)": (messages, {}, "before"),
    }


LIST_NAMES = list(lists("x"))


@pytest.mark.parametrize("value", list(CRAFTED.values()), ids=list(CRAFTED))
@pytest.mark.parametrize("name", LIST_NAMES)
def test_a_crafted_cursor_is_a_validation_error(client_for, alice, bob, name, value):
    message = message_send(sender=alice, to=bob.pk, text="hi", client_id="c-1").message
    path, query, param = lists(message.conversation_id)[name]
    client = client_for(alice)
    client.raise_request_exception = False
    response = client.get(path, {**query, param: value})
    error = assert_error(response, 400, "validation_error")
    assert param in error["details"], error


LIMITS = {"garbage": "ten", "negative": "-1", "zero": "0", "decimal": "1.5", "exponent": "1e3"}


@pytest.mark.parametrize("value", list(LIMITS.values()), ids=list(LIMITS))
@pytest.mark.parametrize("name", LIST_NAMES)
def test_a_crafted_limit_is_a_validation_error(client_for, alice, bob, name, value):
    message = message_send(sender=alice, to=bob.pk, text="hi", client_id="c-1").message
    path, query, _ = lists(message.conversation_id)[name]
    client = client_for(alice)
    client.raise_request_exception = False
    error = assert_error(client.get(path, {**query, "limit": value}), 400, "validation_error")
    assert "limit" in error["details"], error
