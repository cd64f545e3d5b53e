"""How a payload builder is checked against the serializer that documents it: both are
compared as a client receives them (the socket's JSON encoder, the REST renderer)."""

import json
from typing import Any

from rest_framework.renderers import JSONRenderer

from videochat.gateway.frames import encode_frame


def as_pushed(data: dict[str, Any]) -> Any:
    return json.loads(encode_frame(data))


def as_rendered(data: Any) -> Any:
    return json.loads(JSONRenderer().render(data))
