"""What the fuzzers and the authorization matrix share: a small world of real objects (users,
coins, gifts, packages, a call, a conversation with messages) so that generated requests
reach past "not found" into the services, and the checks every answer must pass (the one
error shape of API.md, Conventions)."""

from dataclasses import dataclass, field
from typing import Any

from accounts.models import Block, Report, User
from calls.models import Call
from calls.services import call_accept, call_end, call_invite
from chat.documents import Conversation, Message
from chat.services import message_send
from gifts.models import GiftSend
from gifts.services import gift_send
from tests.factories import CoinPackageFactory, GiftFactory, HostFactory, UserFactory
from tests.helpers import fund, online, settle_earnings
from wallet.ledger.models import Entry, Wallet
from wallet.purchases.models import Purchase
from wallet.withdrawals.models import Withdrawal

# Every code a client may meet (API.md, Conventions; docs/api-conventions.md, Errors;
# docs/websocket.md for the socket's own).
ERROR_CODES = frozenset(
    {
        "validation_error",
        "not_authenticated",
        "permission_denied",
        "not_found",
        "insufficient_funds",
        "conflict",
        "callee_busy",
        "callee_offline",
        "blocked",
        "idempotency_mismatch",
        "rate_limited",
        "service_unavailable",
        "account_restricted",
        "host_not_verified",
        "payouts_not_enabled",
        "invalid_receipt",
        "payload_too_large",
        "method_not_allowed",
        "unsupported_media_type",
        "not_acceptable",
        "server_error",
    }
)


def error_shape_problems(body: Any) -> list[str]:
    """What is wrong with an error body (empty when it is the contract's shape)."""
    if not isinstance(body, dict) or set(body) != {"error"}:
        return [f"not {{'error': ...}}: {body!r:.300}"]
    error = body["error"]
    if not isinstance(error, dict) or set(error) != {"code", "message", "details"}:
        return [f"error is not {{code, message, details}}: {error!r:.300}"]
    problems = []
    if error["code"] not in ERROR_CODES:
        problems.append(f"unknown code {error['code']!r}")
    if not isinstance(error["message"], str) or not error["message"]:
        problems.append(f"message is not a non-empty string: {error['message']!r:.100}")
    if not isinstance(error["details"], dict):
        problems.append(f"details is not an object: {error['details']!r:.100}")
    return problems


def rate_limited_problems(body: dict[str, Any], retry_after_header: str | None) -> list[str]:
    """A `rate_limited` answer says how long to wait: an integer `details.retry_after` and
    (REST only, pass None for a socket frame) the same value in `Retry-After`."""
    problems = []
    wait = body["error"]["details"].get("retry_after")
    if not isinstance(wait, int) or isinstance(wait, bool) or wait < 1:
        problems.append(f"details.retry_after is not a whole number of seconds: {wait!r}")
    if retry_after_header is not None and retry_after_header != str(wait):
        problems.append(f"Retry-After {retry_after_header!r} != details.retry_after {wait!r}")
    return problems


@dataclass
class World:
    alice: User  # a paying user with plenty of coins
    bob: User  # another paying user
    hana: User  # a host who has earned coins (she may withdraw)
    hugo: User  # another host
    gift_ids: list[int]
    package_ids: list[int]
    # alice and hana: an ended call, a conversation and its messages; bob and hugo: an
    # active call.
    call_ids: list[int]
    conversation_ids: list[str]
    message_ids: list[str]
    users: list[User] = field(default_factory=list)

    @property
    def user_ids(self) -> list[int]:
        return [user.pk for user in self.users]


def build_world() -> World:
    """Needs the database (committed, for real servers) and MongoDB."""
    alice = UserFactory.create(email="alice@example.com", name="Alice")
    bob = UserFactory.create(email="bob@example.com", name="Bob")
    hana = HostFactory.create(email="hana@example.com", name="Hana")
    hugo = HostFactory.create(email="hugo@example.com", name="Hugo")
    for user in (alice, bob):
        fund(user, 1_000_000, f"fuzz-fund-{user.pk}")
    gifts = [
        GiftFactory.create(name="Rose", cost_coins=10, position=0),
        GiftFactory.create(name="Diamond", cost_coins=5000, position=1),
    ]
    packages = [
        CoinPackageFactory.create(coins=100, price="0.99", currency="USD", position=0),
        CoinPackageFactory.create(coins=1200, price="9.99", currency="EUR", position=1),
    ]
    # hana earns the host share of these gifts: enough to withdraw.
    for n in range(3):
        gift_send(sender=alice, to=hana.pk, gift_id=gifts[1].pk, idempotency_key=f"fuzz-gift-{n}")
    settle_earnings(hana)
    online(hana)
    call = call_invite(caller=alice, callee_id=hana.pk)
    call_accept(call_id=call.pk, user=hana)
    call_end(call_id=call.pk, user=alice)
    online(hugo)
    active = call_invite(caller=bob, callee_id=hugo.pk)
    call_accept(call_id=active.pk, user=hugo)
    messages = [
        message_send(sender=sender, to=to.pk, text=f"hello {n}", client_id=f"fuzz-{n}").message
        for n, (sender, to) in enumerate([(alice, hana), (hana, alice), (alice, hana)])
    ]
    return World(
        alice=alice,
        bob=bob,
        hana=hana,
        hugo=hugo,
        gift_ids=[gift.pk for gift in gifts],
        package_ids=[package.pk for package in packages],
        call_ids=[call.pk, active.pk],
        conversation_ids=[str(messages[0].conversation_id)],
        message_ids=[str(message.id) for message in messages],
        users=[alice, bob, hana, hugo],
    )


def state() -> dict[str, Any]:
    """Everything a request could change, in PostgreSQL and MongoDB, to compare before and
    after requests that must change nothing."""
    return {
        "users": list(User.objects.order_by("pk").values()),
        "calls": list(Call.objects.order_by("pk").values()),
        "wallets": list(Wallet.objects.order_by("pk").values("pk", "balance")),
        "entries": Entry.objects.count(),
        "gifts": list(GiftSend.objects.order_by("pk").values()),
        "purchases": list(Purchase.objects.order_by("pk").values()),
        "withdrawals": list(Withdrawal.objects.order_by("pk").values()),
        "blocks": list(Block.objects.order_by("pk").values()),
        "reports": Report.objects.count(),
        "messages": list(Message._get_collection().find({}, sort=[("_id", 1)])),
        "conversations": list(Conversation._get_collection().find({}, sort=[("_id", 1)])),
    }
