"""The call payloads (calls/payloads.py) are what CallSerializer documents, byte for byte
as a client reads them, in every state a call can be in."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from calls.models import Call, CallStatus, EndReason
from calls.payloads import call_data
from calls.serializers import CallSerializer
from tests.factories import CallFactory
from tests.payloads import as_pushed, as_rendered

pytestmark = pytest.mark.django_db


def _call(caller: User, callee: User, **fields: object) -> Call:
    call = CallFactory.create(caller=caller, callee=callee, **fields)
    return Call.objects.select_related("caller", "callee").get(pk=call.pk)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        # Half a second off the whole: the two reads of a live duration see the same second.
        {"status": CallStatus.ACTIVE, "started_at": timezone.now() - timedelta(seconds=10.5)},
        {
            "status": CallStatus.ENDED,
            "started_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
            "ended_at": datetime(2025, 1, 2, 3, 6, 5, 250000, tzinfo=UTC),
            "end_reason": EndReason.HANGUP,
            "periods_charged": 3,
            "total_coins": 180,
        },
        {"status": CallStatus.REJECTED, "ended_at": timezone.now()},
    ],
    ids=["ringing", "active", "ended", "rejected"],
)
def test_call_data_is_the_documented_call(
    alice: User, hana: User, fields: dict[str, object]
) -> None:
    call = _call(alice, hana, **fields)
    assert as_pushed(call_data(call)) == as_rendered(CallSerializer(call).data)
