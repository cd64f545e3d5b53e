"""The envelope (API.md, WebSocket): every frame is a JSON object
`{"type", "ref"?, "data"?}`; replies are `ack` or `error` frames echoing the `ref`."""

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from videochat.errors import ApplicationError, ValidationFailed

Ref = str | int | None

MAX_REF_LENGTH = 64
# Integers a JavaScript client can hold exactly.
MAX_REF_INTEGER = 2**53 - 1


class FrameTooLarge(ApplicationError):
    code, status = "payload_too_large", 413


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


def _reject_constant(name: str) -> float:
    # Python's json accepts NaN and Infinity, which are not JSON and slip past range checks.
    raise ValueError(f"{name} is not valid JSON")


def decode_frame(text: str | None, *, max_bytes: int) -> dict[str, Any]:
    """The frame as a dict, or ApplicationError for binary, oversized, non-JSON or
    non-object frames. `text` is None for a binary frame."""
    if text is None:
        raise ValidationFailed("Frames must be JSON text; binary frames are not accepted.")
    # A str never has more characters than UTF-8 bytes, so the cheap check comes first.
    if len(text) > max_bytes or len(text.encode()) > max_bytes:
        raise FrameTooLarge(
            f"A frame may be at most {max_bytes} bytes.", details={"max_bytes": max_bytes}
        )
    try:
        payload = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise ValidationFailed("The frame is not valid JSON.") from exc
    if not isinstance(payload, dict):
        raise ValidationFailed("A frame must be a JSON object.")
    return payload


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
