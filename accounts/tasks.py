"""Celery tasks of accounts: thin, they delegate to the services."""

from celery import shared_task
from django.conf import settings

from accounts import presence


# expires: a sweep still queued when the next one is due is dropped; the next one covers it.
@shared_task(expires=settings.PRESENCE_SWEEP_SECONDS)
def presence_sweep() -> int:
    """Announce offline the users whose sockets timed out (accounts.presence.presence_sweep)."""
    return presence.presence_sweep()
