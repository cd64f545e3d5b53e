"""The gift transaction as the REST answer, the socket ack and `gift:sent` carry it, built by
hand; it equals what GiftSendSerializer documents (gifts/tests/test_payloads.py)."""

from typing import Any

from accounts.payloads import party_data
from gifts.models import GiftSend
from videochat.timestamps import iso_timestamp


def gift_send_data(send: GiftSend) -> dict[str, Any]:
    """One gift sent (its gift, sender and receiver must be loaded)."""
    gift = send.gift
    return {
        "id": send.pk,
        "gift": {
            "id": gift.pk,
            "name": gift.name,
            "cost_coins": gift.cost_coins,
            "icon": gift.icon,
        },
        "sender": party_data(send.sender),
        "receiver": party_data(send.receiver),
        "coins_spent": send.coins_spent,
        "call_id": send.call_id,
        "created_at": iso_timestamp(send.created_at),
    }
