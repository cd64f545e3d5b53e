"""Gifts sent at the same moment, on the real PostgreSQL: duplicates with one key move the
coins once and all get the same gift back; different gifts never spend more than the
sender has."""

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from gifts.models import GiftSend
from gifts.services import GiftSent, gift_send
from gifts.tests.helpers import SEND, assert_ledger_reconciles, platform_revenue
from tests.factories import GiftFactory
from tests.fixtures import access_token_for
from tests.helpers import balance, fund
from tests.threads import all_at_once
from videochat.errors import InsufficientFunds
from wallet.ledger.models import Transaction, TransactionKind

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

THREADS = 8


def test_duplicates_with_one_key_send_one_gift(alice, hana, rose):
    fund(alice, 100)
    sender = User.objects.get(pk=alice.pk)

    results: list[GiftSent] = all_at_once(
        THREADS,
        lambda: gift_send(sender=sender, to=hana.pk, gift_id=rose.pk, idempotency_key="double-tap"),
    )

    assert len({result.send.pk for result in results}) == 1
    assert sorted(result.replayed for result in results) == [False] + [True] * (THREADS - 1)
    assert GiftSend.objects.count() == 1
    assert Transaction.objects.filter(kind=TransactionKind.GIFT).count() == 1
    assert (balance(alice), balance(hana), platform_revenue()) == (90, 5, 5)
    assert_ledger_reconciles()


def test_duplicate_requests_over_rest_answer_the_same_gift(alice, hana, rose):
    fund(alice, 100)
    token = access_token_for(alice)

    def post() -> tuple[int, int]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = client.post(
            SEND, {"to": hana.pk, "gift_id": rose.pk}, format="json", HTTP_IDEMPOTENCY_KEY="k"
        )
        return response.status_code, response.json()["id"]

    answers = all_at_once(THREADS, post)

    assert {status for status, _ in answers} == {201}
    assert len({gift_id for _, gift_id in answers}) == 1
    assert (balance(alice), balance(hana)) == (90, 5)


def test_different_gifts_at_once_never_overspend(alice, hana):
    pricey = GiftFactory.create(name="Pricey", icon="p", cost_coins=30)
    fund(alice, 100)  # pays for 3 of them
    sender = User.objects.get(pk=alice.pk)
    keys = iter(range(THREADS))

    def attempt() -> str:
        try:
            gift_send(sender=sender, to=hana.pk, gift_id=pricey.pk, idempotency_key=str(next(keys)))
        except InsufficientFunds:
            return "refused"
        return "sent"

    outcomes = all_at_once(THREADS, attempt)

    assert sorted(outcomes) == ["refused"] * (THREADS - 3) + ["sent"] * 3
    assert GiftSend.objects.count() == 3
    assert (balance(alice), balance(hana), platform_revenue()) == (10, 45, 45)
    assert_ledger_reconciles()
