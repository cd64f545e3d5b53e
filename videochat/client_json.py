"""JSON from clients (REST bodies and socket frames), read by one rule: I-JSON (RFC 7493),
the interoperable subset of JSON. Python's json module takes more, and each extra broke
something further on:

- `NaN` and `Infinity` are not JSON at all, and slip past range checks;
- nesting deeper than the interpreter's recursion limit raised RecursionError (a 500, or a
  socket's `server_error`); any depth near it risks the same in code that walks the value;
- an escaped lone surrogate (`"\\ud800"`) is valid JSON syntax but no character: nothing can
  store or send it, so an error message or ack that echoed one could not be encoded (a 500,
  or a socket reply that never left).
"""

import json
import re
from typing import Any

# Levels of arrays and objects; real clients send a handful (a socket frame, its data, a
# WebRTC payload), and walking code stays far from the recursion limit.
MAX_DEPTH = 64

_SURROGATE = re.compile("[\ud800-\udfff]")
_LONE_SURROGATE = "JSON strings may not hold lone surrogates (\\ud800-\\udfff)"
_TOO_DEEP = f"JSON may nest at most {MAX_DEPTH} levels deep"


def reject_constant(name: str) -> float:
    """`parse_constant` for json decoders of client text: NaN and Infinity are no JSON."""
    raise ValueError(f"{name} is not valid JSON")


def has_lone_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def client_json_loads(text: str) -> Any:
    """The value of `text`; ValueError when it is not I-JSON or nests deeper than
    MAX_DEPTH."""
    try:
        value = json.loads(text, parse_constant=reject_constant)
    except RecursionError:
        raise ValueError(_TOO_DEEP) from None
    # A surrogate in the text itself (some charsets, UTF-7, decode to them) is in a string:
    # anywhere else json.loads would have refused it.
    if has_lone_surrogate(text):
        raise ValueError(_LONE_SURROGATE)
    # Walk the value only when the text could break a rule: most texts open few brackets
    # and escape nothing.
    if "\\u" in text or text.count("[") + text.count("{") > MAX_DEPTH:
        _check(value)
    return value


def _check(value: Any) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if has_lone_surrogate(item):
                raise ValueError(_LONE_SURROGATE)
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise ValueError(_TOO_DEEP)
            children = [*item, *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
