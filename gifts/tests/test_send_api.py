"""POST /api/v1/gifts/send: coins move once through the ledger (sender pays, the host gets her
share, the platform the rest), the refusals and their codes, Idempotency-Key replays, calls,
and the gift in both wallets' histories."""

import pytest

from accounts.models import Block
from calls.models import Call, CallStatus
from gifts.models import GiftSend
from gifts.tests.helpers import SEND, assert_ledger_reconciles, platform_revenue
from tests.factories import ActiveCallFactory, CallFactory, GiftFactory, HostFactory, UserFactory
from tests.helpers import assert_error, balance, fund
from wallet.ledger.models import Entry, Transaction, TransactionKind

pytestmark = pytest.mark.django_db

HISTORY = "/api/v1/wallet/transactions"


def iso(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


def send(client, to, gift, *, key: str | None = None, **extra):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(SEND, {"to": to.pk, "gift_id": gift.pk, **extra}, format="json", **headers)


def open_call(caller, callee, status=CallStatus.ACTIVE) -> Call:
    if status == CallStatus.ACTIVE:
        return ActiveCallFactory.create(caller=caller, callee=callee)
    return CallFactory.create(caller=caller, callee=callee, status=status)


# --- The happy path ---------------------------------------------------------------------------


def test_a_gift_moves_the_coins_and_answers_the_gift_transaction(
    client_for, alice, hana, rose, django_capture_on_commit_callbacks
):
    fund(alice, 100)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = send(client_for(alice), hana, rose)

    assert response.status_code == 201, response.content
    stored = GiftSend.objects.get()
    assert response.json() == {
        "id": stored.pk,
        "gift": {"id": rose.pk, "name": "Rose", "cost_coins": 10, "icon": "rose"},
        "sender": {"id": alice.pk, "name": "Alice", "gender": "male", "role": "user"},
        "receiver": {"id": hana.pk, "name": "Hana", "gender": "female", "role": "host"},
        "coins_spent": 10,
        "call_id": None,
        "created_at": iso(stored.created_at),
    }
    assert (balance(alice), balance(hana), platform_revenue()) == (90, 5, 5)
    assert (stored.coins_spent, stored.receiver_coins, stored.idempotency_key) == (10, 5, "")
    transfer = stored.transfer
    assert (transfer.kind, transfer.reference) == (TransactionKind.GIFT, f"gift:{stored.pk}")
    assert transfer.metadata == {"gift_id": rose.pk, "gift_name": "Rose"}
    assert sorted(transfer.entries.values_list("type", "amount")) == [
        ("gift_received", 5),
        ("gift_sent", -10),
        ("platform_fee", 5),
    ]
    # The pushes wait for the commit: the balances of both, then the gift to the receiver.
    assert len(callbacks) == 2
    assert_ledger_reconciles()


def test_the_host_share_is_rounded_down_as_for_calls(client_for, alice, hana, settings):
    settings.HOST_SHARE_PERCENT = 33
    fund(alice, 100)
    odd = GiftFactory.create(name="Odd", cost_coins=7)

    assert send(client_for(alice), hana, odd).status_code == 201

    # 7 * 33 / 100 = 2.31: the host gets 2 whole coins, the platform 5.
    assert (balance(alice), balance(hana), platform_revenue()) == (93, 2, 5)
    assert GiftSend.objects.get().receiver_coins == 2
    assert_ledger_reconciles()


@pytest.mark.parametrize(("percent", "host", "platform"), [(0, 0, 10), (100, 10, 0)])
def test_a_share_of_0_or_100_percent_leaves_one_leg_out(
    client_for, alice, hana, rose, settings, percent, host, platform
):
    settings.HOST_SHARE_PERCENT = percent
    fund(alice, 10)

    assert send(client_for(alice), hana, rose).status_code == 201

    assert (balance(alice), balance(hana), platform_revenue()) == (0, host, platform)
    assert GiftSend.objects.get().transfer.entries.count() == 2
    assert_ledger_reconciles()


def test_the_gift_costs_what_the_catalog_says_when_it_is_sent(client_for, alice, hana, rose):
    fund(alice, 100)
    client = client_for(alice)
    send(client, hana, rose)
    rose.cost_coins = 20
    rose.save()

    send(client, hana, rose)

    assert list(GiftSend.objects.order_by("id").values_list("coins_spent", flat=True)) == [10, 20]
    assert balance(alice) == 70


def test_both_histories_show_the_gift_by_name(client_for, alice, hana, rose):
    fund(alice, 100)
    gift_id = send(client_for(alice), hana, rose).json()["id"]

    sent = client_for(alice).get(HISTORY, {"type": "gift_sent"}).json()["results"]
    received = client_for(hana).get(HISTORY).json()["results"]

    expected_details = {"gift_id": rose.pk, "gift_name": "Rose"}
    assert [(e["type"], e["amount"], e["balance_after"]) for e in sent] == [("gift_sent", -10, 90)]
    assert [(e["type"], e["amount"], e["balance_after"]) for e in received] == [
        ("gift_received", 5, 5)
    ]
    for entry in (sent[0], received[0]):
        assert entry["details"] == expected_details
        assert entry["reference"] == f"gift:{gift_id}"


def test_a_gift_without_a_key_is_a_new_gift_every_time(client_for, alice, hana, rose):
    fund(alice, 100)
    client = client_for(alice)

    first, second = send(client, hana, rose), send(client, hana, rose)

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]
    assert (balance(alice), balance(hana)) == (80, 10)


# --- Refusals ---------------------------------------------------------------------------------


def nothing_moved(alice, hana, alice_had: int) -> None:
    assert not GiftSend.objects.exists()
    assert not Transaction.objects.filter(kind=TransactionKind.GIFT).exists()
    assert (balance(alice), balance(hana), platform_revenue()) == (alice_had, 0, 0)


def test_a_sender_who_cant_pay_is_402_and_nothing_moves(client_for, alice, hana, rose):
    fund(alice, 9)

    response = send(client_for(alice), hana, rose, key="k")

    error = assert_error(response, 402, "insufficient_funds")
    assert error["details"] == {"balance": 9, "needed": 10}
    nothing_moved(alice, hana, 9)
    assert_ledger_reconciles()


def test_a_sender_without_any_wallet_is_402(client_for, hana, rose):
    newcomer = UserFactory.create()

    assert_error(send(client_for(newcomer), hana, rose), 402, "insufficient_funds")
    assert balance(newcomer) == 0


def test_a_refused_send_does_not_use_up_its_key(client_for, alice, hana, rose):
    fund(alice, 5)
    client = client_for(alice)
    assert send(client, hana, rose, key="k").status_code == 402
    fund(alice, 20)

    response = send(client, hana, rose, key="k")

    assert response.status_code == 201, response.content
    assert balance(alice) == 15


@pytest.mark.parametrize("blocker", ["sender", "receiver"])
def test_a_block_either_way_is_403_blocked(client_for, alice, hana, rose, blocker):
    fund(alice, 100)
    if blocker == "sender":
        Block.objects.create(blocker=alice, blocked=hana)
    else:
        Block.objects.create(blocker=hana, blocked=alice)

    assert_error(send(client_for(alice), hana, rose), 403, "blocked")
    nothing_moved(alice, hana, 100)


def test_an_unknown_or_deactivated_receiver_is_404(client_for, alice, rose):
    fund(alice, 100)
    gone = HostFactory.create(is_active=False)
    client = client_for(alice)

    for receiver_id in (gone.pk, gone.pk + 1000):
        response = client.post(SEND, {"to": receiver_id, "gift_id": rose.pk}, format="json")
        error = assert_error(response, 404, "not_found")
        assert list(error["details"]) == ["to"]
    assert balance(alice) == 100
    assert not GiftSend.objects.exists()


def test_an_unknown_or_inactive_gift_is_404(client_for, alice, hana):
    fund(alice, 100)
    retired = GiftFactory.create(name="Retired", cost_coins=5, is_active=False)
    client = client_for(alice)

    for gift_id in (retired.pk, retired.pk + 1000):
        response = client.post(SEND, {"to": hana.pk, "gift_id": gift_id}, format="json")
        error = assert_error(response, 404, "not_found")
        assert list(error["details"]) == ["gift_id"]
    nothing_moved(alice, hana, 100)


def test_a_gift_to_yourself_is_a_validation_error(client_for, hana, rose):
    fund(hana, 100)

    error = assert_error(send(client_for(hana), hana, rose), 400, "validation_error")

    assert error["details"] == {"to": ["You can't send a gift to yourself."]}
    assert balance(hana) == 100


def test_only_hosts_receive_gifts(client_for, alice, bob, rose):
    fund(alice, 100)

    assert_error(send(client_for(alice), bob, rose), 403, "permission_denied")
    assert (balance(alice), balance(bob)) == (100, 0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"gift_id": 1}, "to"),
        ({"to": 1}, "gift_id"),
        ({"to": "x", "gift_id": 1}, "to"),
        ({"to": 0, "gift_id": 1}, "to"),
        ({"to": None, "gift_id": 1}, "to"),
        ({"to": 1.5, "gift_id": 1}, "to"),
        ({"to": True, "gift_id": 1}, "to"),
        ({"to": [1], "gift_id": 1}, "to"),
        ({"to": 1, "gift_id": "rose"}, "gift_id"),
        ({"to": 1, "gift_id": 1, "call_id": "x"}, "call_id"),
        ({"to": 1, "gift_id": 1, "call_id": 0}, "call_id"),
    ],
)
def test_bad_bodies_are_validation_errors_naming_the_field(client_for, alice, body, field):
    fund(alice, 100)

    response = client_for(alice).post(SEND, body, format="json")

    assert list(assert_error(response, 400, "validation_error")["details"]) == [field]
    assert balance(alice) == 100


def test_malformed_json_and_other_bodies_get_the_error_shape(client_for, alice, hana, rose):
    client = client_for(alice)

    assert_error(
        client.post(SEND, '{"to": 1, "gift_id":', content_type="application/json"),
        400,
        "validation_error",
    )
    listed = client.post(SEND, [{"to": hana.pk, "gift_id": rose.pk}], format="json")
    assert "non_field_errors" in assert_error(listed, 400, "validation_error")["details"]
    form = client.post(SEND, {"to": hana.pk, "gift_id": rose.pk})  # multipart, not JSON
    assert_error(form, 415, "unsupported_media_type")
    huge = {"to": hana.pk, "gift_id": rose.pk, "pad": "x" * 100_000}
    assert_error(client.post(SEND, huge, format="json"), 413, "payload_too_large")
    assert_error(client.get(SEND), 405, "method_not_allowed")


# --- Idempotency-Key --------------------------------------------------------------------------


def test_the_same_key_and_body_return_the_first_gift_and_move_nothing_again(
    client_for, alice, hana, rose
):
    fund(alice, 100)
    client = client_for(alice)

    first = send(client, hana, rose, key="tap-1")
    again = send(client, hana, rose, key="tap-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert GiftSend.objects.get().idempotency_key == "tap-1"
    assert Transaction.objects.filter(kind=TransactionKind.GIFT).count() == 1
    assert (balance(alice), balance(hana), platform_revenue()) == (90, 5, 5)
    assert_ledger_reconciles()


def test_a_replay_is_answered_even_after_a_block_or_a_retired_gift(client_for, alice, hana, rose):
    fund(alice, 10)
    client = client_for(alice)
    first = send(client, hana, rose, key="k")
    Block.objects.create(blocker=hana, blocked=alice)
    rose.is_active = False
    rose.save()

    again = send(client, hana, rose, key="k")

    assert (again.status_code, again.json()) == (201, first.json())
    assert balance(alice) == 0


@pytest.mark.parametrize("change", ["gift", "receiver", "call"])
def test_the_same_key_with_another_body_is_a_mismatch(client_for, alice, hana, rose, change):
    fund(alice, 100)
    client = client_for(alice)
    send(client, hana, rose, key="k")
    heart, nina = GiftFactory.create(name="Heart", cost_coins=50), HostFactory.create()
    call = open_call(alice, hana)

    other = {
        "gift": {"to": hana.pk, "gift_id": heart.pk},
        "receiver": {"to": nina.pk, "gift_id": rose.pk},
        "call": {"to": hana.pk, "gift_id": rose.pk, "call_id": call.pk},
    }[change]
    response = client.post(SEND, other, format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert_error(response, 409, "idempotency_mismatch")
    assert GiftSend.objects.count() == 1
    assert (balance(alice), balance(hana), balance(nina)) == (90, 5, 0)


def test_keys_belong_to_one_sender(client_for, alice, bob, hana, rose):
    fund(alice, 100)
    fund(bob, 100)

    mine = send(client_for(alice), hana, rose, key="same")
    his = send(client_for(bob), hana, rose, key="same")

    assert (mine.status_code, his.status_code) == (201, 201)
    assert mine.json()["id"] != his.json()["id"]
    assert (balance(alice), balance(bob), balance(hana)) == (90, 90, 10)


def test_an_overlong_key_is_refused(client_for, alice, hana, rose):
    fund(alice, 100)

    response = send(client_for(alice), hana, rose, key="k" * 65)

    error = assert_error(response, 400, "validation_error")
    assert set(error["details"]) == {"Idempotency-Key"}
    assert balance(alice) == 100


# --- In a call --------------------------------------------------------------------------------


def test_a_gift_in_an_active_call_names_the_call(client_for, alice, hana, rose):
    call = open_call(alice, hana)
    fund(alice, 100)

    response = send(client_for(alice), hana, rose, call_id=call.pk)

    assert response.status_code == 201, response.content
    assert response.json()["call_id"] == call.pk
    stored = GiftSend.objects.get()
    assert stored.call_id == call.pk
    assert stored.transfer.metadata == {"gift_id": rose.pk, "gift_name": "Rose", "call_id": call.pk}
    received = client_for(hana).get(HISTORY).json()["results"][0]
    assert received["details"] == {"gift_id": rose.pk, "gift_name": "Rose", "call_id": call.pk}


def test_a_call_of_other_people_is_404(client_for, alice, bob, hana, rose):
    fund(alice, 100)
    theirs = open_call(bob, hana)

    for call_id in (theirs.pk, theirs.pk + 1000):
        response = send(client_for(alice), hana, rose, call_id=call_id)
        assert list(assert_error(response, 404, "not_found")["details"]) == ["call_id"]
    assert balance(alice) == 100


def test_a_call_with_someone_else_is_400(client_for, alice, hana, rose):
    fund(alice, 100)
    nina = HostFactory.create()
    call = open_call(alice, nina)

    response = send(client_for(alice), hana, rose, call_id=call.pk)

    assert list(assert_error(response, 400, "validation_error")["details"]) == ["call_id"]
    assert balance(alice) == 100


@pytest.mark.parametrize("status", [CallStatus.RINGING, CallStatus.ENDED, CallStatus.MISSED])
def test_a_call_that_is_not_active_is_409(client_for, alice, hana, rose, status):
    fund(alice, 100)
    call = open_call(alice, hana, status=status)

    response = send(client_for(alice), hana, rose, call_id=call.pk)

    error = assert_error(response, 409, "conflict")
    assert error["details"] == {"status": status}
    assert balance(alice) == 100
    assert not Entry.objects.filter(type="gift_sent").exists()


def test_a_null_call_id_is_a_gift_outside_a_call(client_for, alice, hana, rose):
    fund(alice, 100)

    response = send(client_for(alice), hana, rose, call_id=None)

    assert (response.status_code, response.json()["call_id"]) == (201, None)
