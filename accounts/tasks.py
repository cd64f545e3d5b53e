"""Celery tasks of accounts: thin, they delegate to the services."""

from celery import shared_task
from django.conf import settings
from django.core.management import call_command

from accounts import presence


# expires: a sweep still queued when the next one is due is dropped; the next one covers it.
@shared_task(expires=settings.PRESENCE_SWEEP_SECONDS)
def presence_sweep() -> int:
    """Announce offline the users whose sockets timed out (accounts.presence.presence_sweep)."""
    return presence.presence_sweep()


@shared_task
def tokens_flush_expired() -> None:
    """Beat, daily: delete refresh tokens past their expiry from SimpleJWT's outstanding list
    (their blacklist entries go with them). An expired token is refused anyway; without this
    every login and every refresh would add a row forever."""
    call_command("flushexpiredtokens")
