"""Reads of gifts."""

from django.db.models import Q, QuerySet

from calls.models import Call
from gifts.models import Gift, GiftSend


def gift_catalog() -> QuerySet[Gift]:
    """The active gifts, in the order staff set (position, then cost)."""
    return Gift.objects.filter(is_active=True).order_by("position", "cost_coins", "id")


def gift_send_of_key(*, sender_id: int, idempotency_key: str) -> GiftSend | None:
    """The gift this sender already sent under this key, with what its answer shows."""
    return (
        GiftSend.objects.select_related("gift", "sender", "receiver")
        .filter(sender_id=sender_id, idempotency_key=idempotency_key)
        .first()
    )


def call_of_sender(*, call_id: int, sender_id: int) -> tuple[int, int, str] | None:
    """(caller id, callee id, status) of a call the sender is a party of; None for any
    other call, unknown ids included, so ids of other people's calls don't leak."""
    return (
        Call.objects.filter(Q(caller_id=sender_id) | Q(callee_id=sender_id), pk=call_id)
        .values_list("caller_id", "callee_id", "status")
        .first()
    )
