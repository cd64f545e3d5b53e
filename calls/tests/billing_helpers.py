"""Shared by the billing tests: active calls made as accept makes them, time travel for
them, a pinned clock, funding, and a record of the pushes that would reach sockets."""

import json
import sys
from datetime import datetime
from typing import Any

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from accounts.models import User
from calls.charging import call_charge_period
from calls.models import Call
from tests.factories import ActiveCallFactory
from videochat.gateway.notify import user_group
from wallet.ledger.models import Entry, Transaction

PERIOD = 60


def start_call(
    caller: User, host: User, *, rate: int = 7, share: int = 50, period: int = PERIOD
) -> Call:
    """An active call whose period 1 is paid, as call_accept leaves it."""
    call = ActiveCallFactory.create(
        caller=caller,
        callee=host,
        rate_per_minute=rate,
        host_share_percent=share,
        billing_period_seconds=period,
    )
    call_charge_period(call_id=call.pk, period=1)
    call.refresh_from_db()
    assert call.periods_charged == 1
    return call


def rewind(call: Call, seconds: float) -> None:
    """Move the call `seconds` into the past, as if that much time had passed."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE calls_call SET started_at = started_at - make_interval(secs => %s),"
            " next_charge_at = next_charge_at - make_interval(secs => %s) WHERE id = %s",
            [seconds, seconds, call.pk],
        )


def pin_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Stop the code's clock (django.utils.timezone.now) at the current instant, which is
    returned: what the code reads as "now" is then exactly what the test says."""
    pinned = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: pinned)
    return pinned


def charge_keys(call: Call) -> list[str]:
    """The idempotency keys of the call's ledger transactions, in the order they were made."""
    return list(
        Transaction.objects.filter(reference=f"call:{call.pk}")
        .order_by("id")
        .values_list("idempotency_key", flat=True)
    )


def coins_paid(call: Call) -> int:
    """What the caller's entries of this call add up to (positive)."""
    paid = Entry.objects.filter(
        transaction__reference=f"call:{call.pk}", wallet__owner_id=call.caller_id
    ).aggregate(total=Sum("amount"))["total"]
    return -(paid or 0)


def record_pushes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str, dict[str, Any]]]:
    """From now on, every push that would reach the channel layer through notify() or
    notify_many() lands in the returned list as (user_id, type, data) instead. Pushes wait
    for commit: wrap the code in django_capture_on_commit_callbacks(execute=True) in
    non-transactional tests."""
    sent: list[tuple[int, str, dict[str, Any]]] = []

    def record(group: str, message: dict[str, Any]) -> None:
        frame = json.loads(message["text"])
        sent.append((int(group.removeprefix("user.")), frame["type"], frame["data"]))

    async def group_send(user_id: int, message: dict[str, Any]) -> None:
        record(user_group(user_id), message)

    def publish_many(messages: list[tuple[str, dict[str, Any]]]) -> None:
        for group, message in messages:
            record(group, message)

    # The module, not the package attribute of the same name (the notify function).
    notify_module = sys.modules["videochat.gateway.notify"]
    monkeypatch.setattr(notify_module, "_group_send", group_send)
    monkeypatch.setattr(notify_module, "_publish_many", publish_many)
    return sent
