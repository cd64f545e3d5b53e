"""Beat purges refresh tokens that expired (SimpleJWT's `flushexpiredtokens`), so the
outstanding and blacklist tables do not grow with every login forever."""

from datetime import timedelta
from typing import Any

from celery.schedules import crontab
from django.conf import settings
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.tasks import tokens_flush_expired


def test_the_task_removes_expired_refresh_tokens_and_keeps_live_ones(alice):
    live = RefreshToken.for_user(alice)
    expired = OutstandingToken.objects.create(
        user=alice,
        jti="expired-jti",
        token="expired.token.value",
        created_at=timezone.now() - timedelta(days=31),
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    BlacklistedToken.objects.create(token=expired)  # logged out, then expired

    tokens_flush_expired()

    assert list(OutstandingToken.objects.values_list("jti", flat=True)) == [live["jti"]]
    assert not BlacklistedToken.objects.exists()
    live.verify()  # still usable


def test_beat_runs_it_daily():
    (entry,) = [
        entry
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "accounts.tasks.tokens_flush_expired"
    ]
    assert isinstance(entry["schedule"], crontab)
    schedule: Any = entry["schedule"]  # the stubs don't know crontab's fields
    assert len(schedule.hour) == 1 and len(schedule.minute) == 1  # once a day
    assert len(schedule.day_of_month) == 31 and len(schedule.day_of_week) == 7
