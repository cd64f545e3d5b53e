"""The gift payload (gifts/payloads.py) is what GiftSendSerializer documents, as a client
reads it, outside a call and in one."""

import pytest

from accounts.models import User
from gifts.models import Gift, GiftSend
from gifts.payloads import gift_send_data
from gifts.serializers import GiftSendSerializer
from gifts.services import gift_send
from tests.factories import ActiveCallFactory
from tests.helpers import fund
from tests.payloads import as_pushed, as_rendered

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("in_call", [False, True], ids=["no-call", "in-call"])
def test_gift_send_data_is_the_documented_gift_send(
    alice: User, hana: User, rose: Gift, in_call: bool
) -> None:
    fund(alice, 100)
    call_id = None
    if in_call:
        call_id = ActiveCallFactory.create(caller=alice, callee=hana).pk
    sent = gift_send(sender=alice, to=hana.pk, gift_id=rose.pk, call_id=call_id)
    for send in (sent.send, GiftSend.objects.select_related().get(pk=sent.send.pk)):
        assert as_pushed(gift_send_data(send)) == as_rendered(GiftSendSerializer(send).data)
