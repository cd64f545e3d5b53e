"""WebSocket handler of gifts (API.md, WebSocket: `gift:sent`), thin like the view: the same
service answers both doors."""

from typing import Any

from accounts.models import User
from gifts.payloads import gift_send_data
from gifts.serializers import GiftSendEventIn
from gifts.services import gift_send
from videochat.gateway import EventContext, blocking, event


@blocking
def _send(user: User, data: dict[str, Any]) -> dict[str, Any]:
    # Serialized off the event loop too: nothing may hit the database there.
    client_id = data.pop("client_id")
    sent = gift_send(sender=user, idempotency_key=client_id, **data)
    return gift_send_data(sent.send)


@event("gift:sent", data=GiftSendEventIn)
async def gift_sent_event(ctx: EventContext, data: dict[str, Any]) -> dict[str, Any]:
    """Like POST /gifts/send with `client_id` as the Idempotency-Key; the ack carries the
    gift transaction."""
    return await _send(ctx.user, dict(data))
