"""The authorization matrix (issue 10, "systematic proof"): every REST operation and socket
event that takes an id, tried by alice on objects that are not hers. Another user's call,
conversation or messages is `not_found` or `permission_denied` in the error shape, a user
who blocked her is `blocked` (or hidden), and nothing changes: the database and MongoDB
are the same before and after. Replay keys (Idempotency-Key, `client_id`) are the
caller's own: someone else's key never answers with their object.

The list of id-taking inputs is derived from the OpenAPI schema and the gateway registry
(path parameters; body, query and header fields named `to`, `before`, `cursor`, `*_id`,
`*_ids` or `Idempotency-Key`); a new one fails test_the_matrix_covers_every_id_input until
it has an entry here."""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from accounts.models import Block, User
from calls.models import Call
from calls.services import call_accept, call_end, call_invite
from chat.documents import Message
from chat.services import message_send
from gifts.models import Gift, GiftSend
from gifts.services import gift_send
from tests.factories import CoinPackageFactory, GiftFactory, HostFactory, UserFactory
from tests.fixtures import access_token_for
from tests.fuzzing import error_shape_problems, online, state
from tests.helpers import fund, settle_earnings
from videochat.gateway.registry import registry
from videochat.gateway.testing import Device, device, sync_thread_connections_closed  # noqa: F401
from videochat.pagination import cursor_encode
from wallet.ledger.models import Entry
from wallet.purchases.models import CoinPackage, Purchase
from wallet.purchases.services import purchase_create
from wallet.withdrawals.models import Withdrawal
from wallet.withdrawals.services import withdrawal_reject, withdrawal_request

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("mongo_db"),
    pytest.mark.timeout(180),
]

ID_NAME = re.compile(r"^(to|before|cursor|Idempotency-Key)$|_ids?$")


# --- The inputs that take an id --------------------------------------------------------------


def rest_id_inputs() -> set[str]:
    """`METHOD /path location:name` for every id-taking input of the OpenAPI schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    found = set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" or ID_NAME.search(parameter["name"]):
                    found.add(f"{label} {parameter['in']}:{parameter['name']}")
            content = operation.get("requestBody", {}).get("content", {})
            body = content.get("application/json", {}).get("schema", {})
            name = body.get("$ref", "").rsplit("/", 1)[-1]
            for field in components.get(name, {}).get("properties", {}):
                if ID_NAME.search(field):
                    found.add(f"{label} body:{field}")
    return found


def socket_id_inputs() -> set[str]:
    """`socket <type> <field>` for every id-taking field of every registered event."""
    return {
        f"socket {spec.event_type} {name}"
        for spec in registry.specs()
        for name in (spec.validator.fields if spec.validator is not None else {})
        if ID_NAME.search(name)
    }


# --- The scene: alice and other people's things --------------------------------------------


@dataclass
class Scene:
    alice: User  # tries everything below
    bob: User
    carol: User
    hana: User  # a host; she blocked alice
    hugo: User  # a host
    active: Call  # bob calls hana
    ringing: Call  # carol calls hugo
    alice_call: Call  # alice's own (ended) call with hugo
    gift: Gift
    package: CoinPackage
    bob_gift: GiftSend  # to hana in their call, Idempotency-Key BOB_KEY
    bob_purchase: Purchase  # Idempotency-Key BOB_KEY
    hana_withdrawal: Withdrawal  # Idempotency-Key HANA_KEY
    hugo_withdrawal: Withdrawal  # rejected by staff: hugo may ask again
    bob_hana: str  # their conversation
    bob_message: Message  # bob -> hana, client_id BOB_KEY
    undelivered: Message  # bob -> hugo, who never connects here: stays `sent`
    alice_hugo: str  # alice's own conversation


BOB_KEY = "bob-key-1"
HANA_KEY = "hana-key-1"


@pytest.fixture
def scene(transactional_db: None, mongo_db: Any) -> Scene:
    alice, bob, carol = (UserFactory.create(name=name) for name in ("Alice", "Bob", "Carol"))
    hana, hugo = HostFactory.create(name="Hana"), HostFactory.create(name="Hugo")
    for user in (alice, bob, carol):
        fund(user, 100_000, f"matrix-fund-{user.pk}")
    for user in (alice, bob, carol, hana, hugo):
        online(user)
    gift = GiftFactory.create(name="Diamond", cost_coins=5000)
    package = CoinPackageFactory.create(coins=100, price="0.99", currency="USD")
    alice_call = call_invite(caller=alice, callee_id=hugo.pk)
    call_accept(call_id=alice_call.pk, user=hugo)
    call_end(call_id=alice_call.pk, user=alice)
    active = call_invite(caller=bob, callee_id=hana.pk)
    call_accept(call_id=active.pk, user=hana)
    ringing = call_invite(caller=carol, callee_id=hugo.pk)
    bob_gift = gift_send(
        sender=bob, to=hana.pk, gift_id=gift.pk, call_id=active.pk, idempotency_key=BOB_KEY
    ).send
    gift_send(sender=bob, to=hana.pk, gift_id=gift.pk, idempotency_key="bob-key-2")
    bob_purchase = purchase_create(user=bob, package_id=package.pk, idempotency_key=BOB_KEY)
    settle_earnings(hana)
    hana_withdrawal = withdrawal_request(user=hana, coins=1000, idempotency_key=HANA_KEY)
    gift_send(sender=bob, to=hugo.pk, gift_id=gift.pk, idempotency_key="bob-key-3")
    settle_earnings(hugo)
    hugo_withdrawal = withdrawal_request(user=hugo, coins=1000, idempotency_key="hugo-key")
    staff = User.objects.create_superuser("staff@example.com", "x", name="Staff")
    withdrawal_reject(withdrawal_id=hugo_withdrawal.pk, staff=staff, reason="test")
    bob_message = message_send(sender=bob, to=hana.pk, text="hi", client_id=BOB_KEY).message
    message_send(sender=hana, to=bob.pk, text="hello", client_id="hana-1")
    undelivered = message_send(sender=bob, to=hugo.pk, text="hi", client_id="bob-2").message
    mine = message_send(sender=alice, to=hugo.pk, text="hey", client_id="alice-1").message
    Block.objects.create(blocker=hana, blocked=alice)
    return Scene(
        alice=alice,
        bob=bob,
        carol=carol,
        hana=hana,
        hugo=hugo,
        active=active,
        ringing=ringing,
        alice_call=alice_call,
        gift=gift,
        package=package,
        bob_gift=bob_gift,
        bob_purchase=bob_purchase.purchase,
        hana_withdrawal=hana_withdrawal,
        hugo_withdrawal=hugo_withdrawal,
        bob_hana=bob_message.conversation_id,
        bob_message=bob_message,
        undelivered=undelivered,
        alice_hugo=mine.conversation_id,
    )


# --- The matrix ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Refused:
    """The attempt is refused with one of `codes` and changes nothing."""

    codes: frozenset[str]

    def __init__(self, *codes: str) -> None:
        object.__setattr__(self, "codes", frozenset(codes))


NOT_YOURS = Refused("not_found", "permission_denied")


@dataclass(frozen=True)
class OwnOnly:
    """The attempt succeeds (a replay key or a cursor is the caller's own) but answers
    only with the caller's objects: `check(scene, answer)` says so, and other people's
    objects stay as they were (the caller's own new one may appear)."""

    check: Callable[[Scene, Any], None]


@dataclass(frozen=True)
class Public:
    """Naming another user's or a shared object is the point of the input; why."""

    reason: str


@dataclass(frozen=True)
class Ignored:
    """Documented to answer as for unknown ids (no error, no leak) and change nothing."""

    reason: str


Expectation = Refused | OwnOnly | Public | Ignored


def own_calls_only(scene: Scene, body: Any) -> None:
    assert body["results"], body
    for call in body["results"]:
        assert scene.alice.pk in (call["caller"]["id"], call["callee"]["id"]), call


def own_entries_only(scene: Scene, body: Any) -> None:
    mine = set(Entry.objects.filter(wallet__owner=scene.alice).values_list("pk", flat=True))
    assert body["results"], body
    assert {entry["id"] for entry in body["results"]} <= mine, body


def own_withdrawals_only(scene: Scene, body: Any) -> None:
    assert [item["id"] for item in body["results"]] == [scene.hana_withdrawal.pk], body


def a_new_withdrawal_of_hugo(scene: Scene, body: Any) -> None:
    assert body["id"] != scene.hana_withdrawal.pk, body
    assert Withdrawal.objects.get(pk=body["id"]).user_id == scene.hugo.pk


def a_new_purchase_of_alice(scene: Scene, body: Any) -> None:
    assert body["id"] != scene.bob_purchase.pk, body
    assert Purchase.objects.get(pk=body["id"]).user_id == scene.alice.pk


def a_new_message_of_alice(scene: Scene, body: Any) -> None:
    message = body.get("message", body)
    assert message["sender_id"] == scene.alice.pk, body
    assert message["id"] != str(scene.bob_message.id), body


# `to`, `callee_id` and `user_id` name another user on purpose; the rule tried there is the
# block (hana blocked alice; API.md: a blocked user can't call, message or gift the blocker,
# and a user who blocked you is not found). Chat cursors and `before` are message or
# conversation ids: one from another user's conversation is refused like any id not from
# the list. Keyset cursors of PostgreSQL lists only move within the caller's own rows.
REST: dict[str, Expectation] = {
    "GET /api/v1/calls/{call_id} path:call_id": NOT_YOURS,
    "POST /api/v1/calls/{call_id}/accept path:call_id": NOT_YOURS,
    "POST /api/v1/calls/{call_id}/reject path:call_id": NOT_YOURS,
    "POST /api/v1/calls/{call_id}/end path:call_id": NOT_YOURS,
    "POST /api/v1/calls body:callee_id": Refused("blocked"),
    "GET /api/v1/calls query:cursor": OwnOnly(own_calls_only),
    "GET /api/v1/chat/conversations query:cursor": Refused("validation_error"),
    "GET /api/v1/chat/conversations/{conversation_id}/messages path:conversation_id": NOT_YOURS,
    "GET /api/v1/chat/conversations/{conversation_id}/messages query:before": Refused(
        "validation_error"
    ),
    "GET /api/v1/chat/conversations/{conversation_id}/messages query:cursor": Refused(
        "validation_error"
    ),
    "POST /api/v1/chat/conversations/{conversation_id}/read path:conversation_id": NOT_YOURS,
    "POST /api/v1/chat/messages body:to": Refused("blocked"),
    "POST /api/v1/chat/messages body:client_id": OwnOnly(a_new_message_of_alice),
    "POST /api/v1/gifts/send body:to": Refused("blocked"),
    "POST /api/v1/gifts/send body:call_id": NOT_YOURS,
    "POST /api/v1/gifts/send body:gift_id": Public("the gift catalog is everyone's"),
    # bob's key and body: answered as alice's own request (refused: hana blocked her), never
    # with bob's gift.
    "POST /api/v1/gifts/send header:Idempotency-Key": Refused("blocked"),
    "POST /api/v1/wallet/purchases body:package_id": Public("the package catalog is everyone's"),
    "POST /api/v1/wallet/purchases header:Idempotency-Key": OwnOnly(a_new_purchase_of_alice),
    "POST /api/v1/wallet/purchases/googleplay body:product_id": Public(
        "a store's product id names a package in the shared catalog; the store's proof, "
        "checked with Google, decides whose purchase it is (wallet/tests/test_googleplay.py)"
    ),
    "GET /api/v1/wallet/transactions query:cursor": OwnOnly(own_entries_only),
    "GET /api/v1/withdrawals query:cursor": OwnOnly(own_withdrawals_only),
    # hugo with hana's key and amount: a withdrawal of his own, never hana's.
    "POST /api/v1/withdrawals header:Idempotency-Key": OwnOnly(a_new_withdrawal_of_hugo),
    "GET /api/v1/users/{user_id} path:user_id": Refused("not_found"),
    "POST /api/v1/users/{user_id}/block path:user_id": Public(
        "anyone may block anyone (also someone who blocked them)"
    ),
    "DELETE /api/v1/users/{user_id}/block path:user_id": Public("unblocking is always allowed"),
    "POST /api/v1/reports body:user_id": Public("anyone may report anyone to staff"),
    "GET /api/v1/presence/online query:cursor": Public("a position in the public online list"),
    "GET /api/v1/presence/nearby query:cursor": Public("a position in the public nearby list"),
    "POST /api/v1/payments/webhook/{provider} path:provider": Public(
        "names a payment provider, not anyone's object; the signature authenticates"
    ),
}

SOCKET: dict[str, Expectation] = {
    "socket call:invite callee_id": Refused("blocked"),
    "socket call:answer call_id": NOT_YOURS,
    "socket call:end call_id": NOT_YOURS,
    "socket call:signal call_id": NOT_YOURS,
    "socket gift:sent to": Refused("blocked"),
    "socket gift:sent call_id": NOT_YOURS,
    "socket gift:sent gift_id": Public("the gift catalog is everyone's"),
    # bob's key and body (as for the REST Idempotency-Key).
    "socket gift:sent client_id": Refused("blocked"),
    "socket chat:message to": Refused("blocked"),
    "socket chat:message client_id": OwnOnly(a_new_message_of_alice),
    "socket chat:read conversation_id": NOT_YOURS,
    "socket chat:delivered message_ids": Ignored(
        "docs/chat.md: ids that are not the caller's received messages are ignored silently"
    ),
    "socket chat:typing to": Ignored(
        "docs/chat.md: typing says nothing about whether the other user exists or blocked "
        "anyone; the blocker gets no push"
    ),
}


def rest_attempt(key: str, scene: Scene) -> tuple[str, str, dict[str, Any], dict[str, str]]:
    """(method, path, body, headers) of the actor's try at `key`."""
    s = scene
    paths = {
        "call_id": str(s.ringing.pk if "accept" in key or "reject" in key else s.active.pk),
        "conversation_id": s.bob_hana,
        "user_id": str(s.hana.pk),
    }
    method, template, where = key.split(" ")
    path = re.sub(r"\{(\w+)\}", lambda m: paths[m.group(1)], template)
    alice_conversation = f"/api/v1/chat/conversations/{s.alice_hugo}/messages"
    attempts: dict[str, tuple[str, dict[str, Any], dict[str, str]]] = {
        "POST /api/v1/calls body:callee_id": (path, {"callee_id": s.hana.pk}, {}),
        "GET /api/v1/calls query:cursor": (f"{path}?cursor={cursor_encode(s.active.pk)}", {}, {}),
        "GET /api/v1/chat/conversations query:cursor": (f"{path}?cursor={s.bob_hana}", {}, {}),
        "GET /api/v1/chat/conversations/{conversation_id}/messages query:before": (
            f"{alice_conversation}?before={s.bob_message.id}",
            {},
            {},
        ),
        "GET /api/v1/chat/conversations/{conversation_id}/messages query:cursor": (
            f"{alice_conversation}?cursor={s.bob_message.id}",
            {},
            {},
        ),
        "POST /api/v1/chat/messages body:to": (
            path,
            {"to": s.hana.pk, "text": "x", "client_id": "a"},
            {},
        ),
        "POST /api/v1/chat/messages body:client_id": (
            path,
            {"to": s.hugo.pk, "text": "hi", "client_id": BOB_KEY},
            {},
        ),
        "POST /api/v1/gifts/send body:to": (path, {"to": s.hana.pk, "gift_id": s.gift.pk}, {}),
        "POST /api/v1/gifts/send body:call_id": (
            path,
            {"to": s.hugo.pk, "gift_id": s.gift.pk, "call_id": s.active.pk},
            {},
        ),
        "POST /api/v1/gifts/send header:Idempotency-Key": (
            path,
            {"to": s.hana.pk, "gift_id": s.gift.pk, "call_id": s.active.pk},
            {"HTTP_IDEMPOTENCY_KEY": BOB_KEY},
        ),
        "POST /api/v1/wallet/purchases header:Idempotency-Key": (
            path,
            {"package_id": s.package.pk},
            {"HTTP_IDEMPOTENCY_KEY": BOB_KEY},
        ),
        "GET /api/v1/wallet/transactions query:cursor": (
            f"{path}?cursor={cursor_encode(Entry.objects.order_by('-pk')[0].pk + 1)}",
            {},
            {},
        ),
        "GET /api/v1/withdrawals query:cursor": (
            f"{path}?cursor={cursor_encode(s.hugo_withdrawal.pk + 1)}",
            {},
            {},
        ),
        "POST /api/v1/withdrawals header:Idempotency-Key": (
            path,
            {"coins": 1000},
            {"HTTP_IDEMPOTENCY_KEY": HANA_KEY},
        ),
    }
    path, body, headers = attempts.get(f"{method} {template} {where}", (path, {}, {}))
    return method, path, body, headers


def socket_attempt(key: str, scene: Scene) -> tuple[str, dict[str, Any]]:
    s = scene
    attempts: dict[str, tuple[str, dict[str, Any]]] = {
        "socket call:invite callee_id": ("call:invite", {"callee_id": s.hana.pk}),
        "socket call:answer call_id": ("call:answer", {"call_id": s.ringing.pk, "accept": True}),
        "socket call:end call_id": ("call:end", {"call_id": s.active.pk}),
        "socket call:signal call_id": (
            "call:signal",
            {"call_id": s.active.pk, "kind": "offer", "payload": {"sdp": "v=0"}},
        ),
        "socket gift:sent to": (
            "gift:sent",
            {"to": s.hana.pk, "gift_id": s.gift.pk, "client_id": "a-1"},
        ),
        "socket gift:sent call_id": (
            "gift:sent",
            {"to": s.hugo.pk, "gift_id": s.gift.pk, "call_id": s.active.pk, "client_id": "a-2"},
        ),
        "socket gift:sent client_id": (
            "gift:sent",
            {"to": s.hana.pk, "gift_id": s.gift.pk, "call_id": s.active.pk, "client_id": BOB_KEY},
        ),
        "socket chat:message to": (
            "chat:message",
            {"to": s.hana.pk, "text": "x", "client_id": "a"},
        ),
        "socket chat:message client_id": (
            "chat:message",
            {"to": s.hugo.pk, "text": "hi", "client_id": BOB_KEY},
        ),
        "socket chat:read conversation_id": ("chat:read", {"conversation_id": s.bob_hana}),
        "socket chat:delivered message_ids": (
            "chat:delivered",
            {"message_ids": [str(s.undelivered.id)]},
        ),
        "socket chat:typing to": ("chat:typing", {"to": s.hana.pk}),
    }
    return attempts[key]


def actor(key: str, scene: Scene) -> User:
    """Who tries: alice, but withdrawals are for hosts (hana reads hers with a cursor made
    from hugo's, hugo replays hana's key)."""
    if key == "GET /api/v1/withdrawals query:cursor":
        return scene.hana
    if key == "POST /api/v1/withdrawals header:Idempotency-Key":
        return scene.hugo
    return scene.alice


def others_unchanged(
    before: dict[str, Any], after: dict[str, Any], scene: Scene, user: User
) -> None:
    """What an OwnOnly attempt may not touch: other people's calls, gifts, purchases,
    withdrawals and blocks, and bob's message."""

    def theirs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [row for row in rows if user.pk not in (row.get("user_id"), row.get("sender_id"))]

    for name in ("calls", "purchases", "withdrawals", "gifts", "blocks"):
        assert theirs(after[name]) == theirs(before[name]), name
    bob_message = str(scene.bob_message.id)
    assert [m for m in after["messages"] if str(m["_id"]) == bob_message] == [
        m for m in before["messages"] if str(m["_id"]) == bob_message
    ]


# --- The tests -----------------------------------------------------------------------------


def test_the_matrix_covers_every_id_input() -> None:
    assert set(REST) == rest_id_inputs(), "REST entries differ from the schema's id inputs"
    assert set(SOCKET) == socket_id_inputs(), "socket entries differ from the registry's"


def test_rest_other_peoples_objects(scene: Scene) -> None:
    problems = []
    for key, expectation in REST.items():
        if isinstance(expectation, Public):
            continue
        user = actor(key, scene)
        method, path, body, headers = rest_attempt(key, scene)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(user)}", **headers)
        before = state()
        data = json.dumps(body) if body else ""
        response = client.generic(method, path, data, "application/json")
        answer: Any = response.json() if response.content else None
        try:
            if isinstance(expectation, Refused):
                assert 400 <= response.status_code < 500, response.status_code
                assert not error_shape_problems(answer), error_shape_problems(answer)
                assert answer["error"]["code"] in expectation.codes, answer
                assert state() == before, "the state changed"
            elif isinstance(expectation, OwnOnly):
                expectation.check(scene, answer)
                others_unchanged(before, state(), scene, user)
        except AssertionError as exc:
            problems.append(f"{key}: {exc} ({response.status_code} {answer})")
    assert not problems, "\n".join(problems)


async def test_socket_other_peoples_objects(scene: Scene) -> None:
    problems = []
    async with (
        device(scene.alice) as alice,
        device(scene.bob) as bob,
        device(scene.hana) as hana,
        device(scene.carol) as carol,
    ):
        for other in (bob, hana, carol):  # what connecting delivered (chat, receipts)
            while not await other.socket.receive_nothing(timeout=0.5):
                await other.socket.receive_json_from()
        for key, expectation in SOCKET.items():
            if isinstance(expectation, Public):
                continue
            type_, data = socket_attempt(key, scene)
            before = await sync_to_async(state)()
            reply = await alice.request(type_, data)
            after = await sync_to_async(state)()
            try:
                if isinstance(expectation, Refused):
                    assert reply["type"] == "error", reply
                    assert not error_shape_problems({"error": reply["error"]})
                    assert reply["error"]["code"] in expectation.codes, reply
                    assert after == before, "the state changed"
                elif isinstance(expectation, Ignored):
                    assert reply == {"type": "ack", "ref": reply["ref"], "data": {}}, reply
                    assert after == before, "the state changed"
                elif isinstance(expectation, OwnOnly):
                    assert reply["type"] == "ack", reply
                    await sync_to_async(expectation.check)(scene, reply["data"])
                    others_unchanged(before, after, scene, scene.alice)
                for other in (bob, hana, carol):
                    await nothing_but_presence(other, key)
            except AssertionError as exc:
                problems.append(f"{key}: {exc}")
    assert not problems, "\n".join(problems)


async def nothing_but_presence(other: Device, key: str) -> None:
    """No push reached this bystander because of alice's attempt (presence and balance
    pushes of the scene's own doing aside)."""
    while not await other.socket.receive_nothing(timeout=0.2):
        frame = await other.socket.receive_json_from()
        assert frame["type"] in ("presence:update", "wallet:balance"), (key, frame)
