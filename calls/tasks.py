"""Celery tasks of calls (beat runs them every CALL_TICK_SECONDS): thin, they delegate to
the services, which are safe to run twice at once."""

from dataclasses import asdict
from typing import Any

from celery import shared_task
from django.conf import settings

from calls.billing import billing_tick
from calls.services import call_end_disconnected, call_expire_ringing


@shared_task
def calls_expire_ringing() -> int:
    return call_expire_ringing()


@shared_task
def calls_end_disconnected() -> int:
    return call_end_disconnected()


# expires: a tick still queued when the next one is sent is dropped, so ticks can't pile up
# behind a slow one. No retries: the next tick is the retry. The time limits end a tick stuck
# on a lock; only its current batch rolls back.
@shared_task(
    acks_late=True,
    expires=settings.CALL_TICK_SECONDS,
    soft_time_limit=120,
    time_limit=150,
)
def calls_billing_tick() -> dict[str, Any]:
    """Charge the due periods of active calls (calls.billing.billing_tick)."""
    return asdict(billing_tick())
