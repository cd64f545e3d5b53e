"""The message object (chat.selectors.message_data) is what MessageSerializer documents, as
a client reads it, in each status, read back from MongoDB and as just stored."""

import pytest

from accounts.models import User
from chat.documents import Message
from chat.selectors import message_data
from chat.serializers import MessageSerializer
from chat.services import conversation_mark_read, message_send, messages_mark_delivered
from tests.payloads import as_pushed, as_rendered

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]


def test_message_data_is_the_documented_message(alice: User, bob: User) -> None:
    sent = message_send(sender=alice, to=bob.pk, text=" hello ", client_id="c-1")

    def check(message: Message) -> None:
        assert as_pushed(message_data(message)) == as_rendered(MessageSerializer(message).data)

    check(sent.message)
    check(Message.objects.get(pk=sent.message.pk))
    messages_mark_delivered(user_id=bob.pk)
    check(Message.objects.get(pk=sent.message.pk))
    conversation_mark_read(user_id=bob.pk, conversation_id=sent.message.conversation_id)
    check(Message.objects.get(pk=sent.message.pk))
