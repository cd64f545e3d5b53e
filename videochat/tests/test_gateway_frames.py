"""Frame parsing (videochat/gateway/frames.py) without a socket: what decode_frame, read_ref,
read_event and peek_ref accept and refuse, and the frames the gateway writes. The consumer's
use of them, over a socket, is test_gateway_envelope.py."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

import pytest

from videochat.errors import ValidationFailed
from videochat.gateway.frames import (
    MAX_REF_INTEGER,
    MAX_REF_LENGTH,
    REF_SCAN_CHARS,
    FrameTooLarge,
    ack_frame,
    decode_frame,
    encode_frame,
    error_frame,
    peek_ref,
    read_event,
    read_ref,
)

LIMIT = 100


# --- decode_frame ----------------------------------------------------------------------------


def test_a_json_object_is_decoded():
    assert decode_frame('{"type": "x", "ref": 1, "data": {"a": [1, 2]}}', max_bytes=LIMIT) == {
        "type": "x",
        "ref": 1,
        "data": {"a": [1, 2]},
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "binary frames are not accepted"),
        ("{not json", "not valid JSON"),
        ("", "not valid JSON"),
        ('{"n": NaN}', "not valid JSON"),  # not I-JSON
        ('{"text": "\\ud800"}', "not valid JSON"),  # a lone surrogate
        ("[" * 65 + "]" * 65, "not valid JSON"),  # deeper than 64 levels
        ('["type", "x"]', "must be a JSON object"),
        ('"x"', "must be a JSON object"),
        ("null", "must be a JSON object"),
    ],
)
def test_what_is_not_a_json_object_is_a_validation_error(text, message):
    with pytest.raises(ValidationFailed, match=message):
        decode_frame(text, max_bytes=4096)


def test_a_frame_of_exactly_the_limit_is_decoded_and_one_byte_more_is_too_large():
    head = '{"ref": "r", "pad": "'
    fits = head + "x" * (LIMIT - len(head) - 2) + '"}'
    assert len(fits.encode()) == LIMIT
    assert decode_frame(fits, max_bytes=LIMIT)["ref"] == "r"

    with pytest.raises(FrameTooLarge) as refused:
        decode_frame(fits.replace('"}', 'x"}'), max_bytes=LIMIT)
    assert (refused.value.code, refused.value.status) == ("payload_too_large", 413)
    assert refused.value.details == {"max_bytes": LIMIT}
    assert refused.value.ref == "r"


def test_the_limit_counts_utf8_bytes_not_characters():
    text = '{"pad": "' + "€" * 30 + '"}'  # 41 characters, 101 bytes
    assert len(text) < LIMIT < len(text.encode())
    with pytest.raises(FrameTooLarge):
        decode_frame(text, max_bytes=LIMIT)


# --- read_ref ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ref",
    [None, "c-1", "r" * MAX_REF_LENGTH, 0, -1, MAX_REF_INTEGER, -MAX_REF_INTEGER],
)
def test_a_valid_ref_is_read_as_it_is(ref):
    assert read_ref({"ref": ref}) == ref


def test_no_ref_is_none():
    assert read_ref({"type": "x"}) is None


@pytest.mark.parametrize(
    "ref",
    ["", "r" * (MAX_REF_LENGTH + 1), True, False, MAX_REF_INTEGER + 1, 1.5, [1], {"a": 1}],
)
def test_a_bad_ref_is_a_validation_error_on_the_ref(ref):
    with pytest.raises(ValidationFailed) as refused:
        read_ref({"ref": ref})
    assert list(refused.value.details) == ["ref"]


# --- read_event --------------------------------------------------------------------------------


def test_the_type_and_data_are_read():
    assert read_event({"type": "chat:send", "data": {"to": 1}}) == ("chat:send", {"to": 1})


@pytest.mark.parametrize("payload", [{"type": "x"}, {"type": "x", "data": None}])
def test_no_data_is_empty_data(payload):
    assert read_event(payload) == ("x", {})


@pytest.mark.parametrize("payload", [{}, {"type": ""}, {"type": 1}, {"type": None}])
def test_a_missing_or_bad_type_is_a_validation_error_on_the_type(payload):
    with pytest.raises(ValidationFailed) as refused:
        read_event(payload)
    assert list(refused.value.details) == ["type"]


@pytest.mark.parametrize("data", [[], "x", 1, True])
def test_data_that_is_not_an_object_is_a_validation_error_on_the_data(data):
    with pytest.raises(ValidationFailed) as refused:
        read_event({"type": "x", "data": data})
    assert list(refused.value.details) == ["data"]


# --- peek_ref ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ('{"type": "x", "ref": "c-17", "data": {}}', "c-17"),
        ('{"ref": 42, "type": "x"}', 42),
        (' { "ref" : "spaced" , "data": {}}', "spaced"),
        ('{"data": {"ref": "nested"}, "ref": "top"}', "top"),
        ('{"type": "x", "ref": "before-the-cut", "pad": "' + "x" * 2000 + '"}', "before-the-cut"),
    ],
)
def test_a_top_level_ref_is_peeked(text, ref):
    assert peek_ref(text) == ref


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "x"}',  # no ref at all
        '{"data": {"ref": "nested"}}',  # only a nested one
        '{"ref": true}',  # not a valid ref
        '{"ref": "' + "r" * (MAX_REF_LENGTH + 1) + '"}',  # too long to echo
        '{"ref": "lone-\\udc00"}',  # no character: can't be echoed
        '["ref", "c-1"]',  # not an object
        '{"ref" "c-1"}',  # no colon
        '{"ref": NaN}',  # not I-JSON
        "",
        # After a member that does not end within the scanned part: not searched for.
        '{"pad": "' + "x" * REF_SCAN_CHARS + '", "ref": "late"}',
    ],
)
def test_no_readable_ref_is_none(text):
    assert peek_ref(text) is None


def test_a_ref_cut_by_the_scan_is_not_trusted():
    # The number's digits run past the part that is read: 1234 must not become 12.
    head = "{" + " " * (REF_SCAN_CHARS - len('{"ref": 12')) + '"ref": 12'
    assert len(head) == REF_SCAN_CHARS
    assert peek_ref(head + '34, "data": {}}') is None
    assert peek_ref('{"ref": 1234, "data": {}}') == 1234


# --- the frames the gateway writes -------------------------------------------------------------


def test_an_ack_echoes_the_ref_and_always_has_data():
    assert ack_frame("c-1", {"id": 7}) == {"type": "ack", "ref": "c-1", "data": {"id": 7}}
    assert ack_frame(3, None) == {"type": "ack", "ref": 3, "data": {}}


def test_an_error_frame_carries_the_rest_error_body():
    body = {"error": {"code": "not_found", "message": "No such call.", "details": {}}}
    assert error_frame(None, body) == {"type": "error", "ref": None, **body}


def test_encoding_is_compact_utf8_and_takes_what_serializers_give():
    frame = {
        "type": "x",
        "data": {
            "at": datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
            "price": Decimal("4.99"),
            "id": UUID(int=1),
            "text": "€",
        },
    }
    text = encode_frame(frame)
    assert " " not in text and "€" in text
    assert json.loads(text)["data"] == {
        "at": "2024-05-01T12:00:00Z",
        "price": "4.99",
        "id": "00000000-0000-0000-0000-000000000001",
        "text": "€",
    }
