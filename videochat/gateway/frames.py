"""The envelope (API.md, WebSocket): every frame is a JSON object
`{"type", "ref"?, "data"?}`; replies are `ack` or `error` frames echoing the `ref`."""

import json
import re
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from videochat.client_json import client_json_loads, has_lone_surrogate, reject_constant
from videochat.errors import ApplicationError, ValidationFailed

Ref = str | int | None

MAX_REF_LENGTH = 64
# Integers a JavaScript client can hold exactly.
MAX_REF_INTEGER = 2**53 - 1


# How much of an oversized frame is searched for its ref: clients write `type` and `ref`
# before `data`, and no more than this is ever read of a frame that is refused.
REF_SCAN_CHARS = 1024


class FrameTooLarge(ApplicationError):
    code, status = "payload_too_large", 413

    def __init__(self, message: str, *, ref: Ref, details: dict[str, Any]) -> None:
        super().__init__(message, details=details)
        # The frame's ref when it could be read from its first characters, for the reply.
        self.ref = ref


def encode_frame(frame: dict[str, Any]) -> str:
    """JSON text for a frame. DjangoJSONEncoder takes the datetimes, decimals and UUIDs
    that serializer output carries."""
    return json.dumps(frame, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))


def ack_frame(ref: Ref, data: dict[str, Any] | None) -> dict[str, Any]:
    return {"type": "ack", "ref": ref, "data": data if data is not None else {}}


def error_frame(ref: Ref, body: dict[str, Any]) -> dict[str, Any]:
    """`body` is a REST error body (`videochat.errors.error_body`), so clients parse one
    `error` shape on both doors."""
    return {"type": "error", "ref": ref, **body}


def decode_frame(text: str | None, *, max_bytes: int) -> dict[str, Any]:
    """The frame as a dict, or ApplicationError for binary, oversized, non-JSON or
    non-object frames. `text` is None for a binary frame."""
    if text is None:
        raise ValidationFailed("Frames must be JSON text; binary frames are not accepted.")
    # A str never has more characters than UTF-8 bytes, so the cheap check comes first.
    if len(text) > max_bytes or len(text.encode()) > max_bytes:
        raise FrameTooLarge(
            f"A frame may be at most {max_bytes} bytes.",
            ref=peek_ref(text),
            details={"max_bytes": max_bytes},
        )
    try:
        payload = client_json_loads(text)
    except ValueError as exc:
        raise ValidationFailed(f"The frame is not valid JSON: {exc}.") from exc
    if not isinstance(payload, dict):
        raise ValidationFailed("A frame must be a JSON object.")
    return payload


_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder(parse_constant=reject_constant)


def peek_ref(text: str) -> Ref:
    """The top-level `ref` of a frame too large to parse, read from its first
    REF_SCAN_CHARS characters only: the object's members are decoded one by one until `ref`
    turns up, and any member that does not end within them (the large `data`) stops the
    search. None when there is none to read or it is not a valid ref."""
    head = text[:REF_SCAN_CHARS]

    def skip(at: int) -> int:
        match = _SPACE.match(head, at)
        assert match is not None  # `*`: it always matches
        return match.end()

    def value(at: int) -> tuple[Any, int]:
        decoded, end = _DECODER.raw_decode(head, skip(at))
        # A value that reaches the cut may be cut itself (a number's digits).
        if skip(end) >= len(head):
            raise ValueError("cut off")
        return decoded, skip(end)

    at = skip(0)
    if not head.startswith("{", at):
        return None
    at += 1
    try:
        while True:
            key, at = value(at)
            if not isinstance(key, str) or not head.startswith(":", at):
                return None
            member, at = value(at + 1)
            if key == "ref":
                # A lone surrogate is not I-JSON: such a ref could not be echoed either.
                if isinstance(member, str) and has_lone_surrogate(member):
                    return None
                return read_ref({"ref": member})
            if not head.startswith(",", at):
                return None
            at += 1
    except (ValueError, RecursionError, ValidationFailed):
        return None


def read_ref(payload: dict[str, Any]) -> Ref:
    ref = payload.get("ref")
    if ref is None:
        return None
    # bool is an int in Python, but `true` is no reference.
    if isinstance(ref, int) and not isinstance(ref, bool) and abs(ref) <= MAX_REF_INTEGER:
        return ref
    if isinstance(ref, str) and 0 < len(ref) <= MAX_REF_LENGTH:
        return ref
    raise ValidationFailed(
        "The frame has a bad ref.",
        details={"ref": [f"Must be a string of 1 to {MAX_REF_LENGTH} characters or an integer."]},
    )


def read_event(payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The frame's `type` and `data` (`{}` when absent or null)."""
    type_ = payload.get("type")
    if not isinstance(type_, str) or not type_:
        raise ValidationFailed(
            "The frame has no type.", details={"type": ["A non-empty string is required."]}
        )
    data = payload.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValidationFailed(
            "The frame's data must be a JSON object.", details={"data": ["Must be an object."]}
        )
    return type_, data
