"""Sending gifts (API.md, Gifts; docs/gifts.md). The REST view and the socket's `gift:sent`
both call `gift_send`, so both doors behave the same.

Why a gift moves its coins exactly once:
- The coins move in one `wallet_transfer` (the sender pays the gift's cost, the receiver gets
  the host share, rounded down as for call minutes, and platform revenue the rest), in the
  same database transaction that writes the GiftSend row: both exist, or neither.
- A client's key (the Idempotency-Key header, or the socket's `client_id`) names the ledger
  transaction, `gift:user:<sender>:key:<key>`: keys are scoped by sender, so two users' keys
  never meet. Of two concurrent sends with one key, the second waits on the ledger's unique
  index until the first commits, then finds the first one's gift and answers with it.
- A send without a key is a new gift every time (ledger key `gift:<id>`).

Pushes (`gift:sent`, and `wallet:balance` from the transfer) go out after commit; a replay
moves nothing and pushes nothing.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from accounts.models import User
from accounts.selectors import recipient_state
from calls.models import CallStatus
from gifts.models import Gift, GiftSend
from gifts.payloads import gift_send_data
from gifts.selectors import call_of_sender, gift_send_of_key
from videochat.errors import (
    Blocked,
    Conflict,
    IdempotencyMismatch,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from videochat.gateway import notify
from wallet.ledger.debts import account_restriction_check
from wallet.ledger.models import EntryType, TransactionKind
from wallet.ledger.services import (
    reference_id_reserve,
    spend_legs,
    wallet_ensure,
    wallet_of_user,
    wallet_transfer,
)


@dataclass(frozen=True)
class GiftSent:
    send: GiftSend
    # True when the sender's key had sent this gift before: nothing moved this time.
    replayed: bool


def gift_send(
    *,
    sender: User,
    to: int,
    gift_id: int,
    call_id: int | None = None,
    idempotency_key: str = "",
) -> GiftSent:
    """`sender` gives the active gift `gift_id` to the host `to`, during the call `call_id`
    when given. The receiver's sockets get `gift:sent` (in a call, both parties' sockets).
    With an `idempotency_key`, the same key and body answer the first gift again and the same
    key with another body is IdempotencyMismatch; a replay is answered before any other rule
    is checked, so a retry is never refused for a block, a price change or a call that ended
    since. Refused, in this order: a gift to oneself (400), an unknown or deactivated
    receiver (404), a block either way (403 blocked), a receiver who is not a host (403
    permission_denied), an unknown or inactive gift (404), a call that is not the sender's
    (404), not with the receiver (400) or not active (409), a sender who owes coins of a
    reversed purchase (403 account_restricted), a sender who can't pay (402).
    A refused send moves nothing and leaves its key unused."""
    if to == sender.pk:
        raise ValidationFailed(
            "You can't send a gift to yourself.",
            details={"to": ["You can't send a gift to yourself."]},
        )

    def replayed() -> GiftSend | None:
        # The gift this key sent before, if any: looked for first, and again after a race.
        if not idempotency_key:
            return None
        return _replayed(
            sender=sender, idempotency_key=idempotency_key, to=to, gift_id=gift_id, call_id=call_id
        )

    first = replayed()
    if first is not None:
        return GiftSent(first, replayed=True)
    receiver = _receiver(sender=sender, to=to)
    gift = Gift.objects.filter(pk=gift_id, is_active=True).first()
    if gift is None:
        raise NotFound("No such gift.", details={"gift_id": ["No active gift has this id."]})
    if call_id is not None:
        _check_call(call_id=call_id, sender=sender, receiver=receiver)
    account_restriction_check(wallet=wallet_of_user(user_id=sender.pk))
    try:
        send = _send(
            sender=sender,
            receiver=receiver,
            gift=gift,
            call_id=call_id,
            idempotency_key=idempotency_key,
        )
    except IdempotencyMismatch:
        # A concurrent send with the same key committed first: the ledger refused ours
        # (its reference names another gift). Answer as a replay of that one.
        first = replayed()
        if first is None:
            raise
        return GiftSent(first, replayed=True)
    return GiftSent(send, replayed=False)


def _replayed(
    *, sender: User, idempotency_key: str, to: int, gift_id: int, call_id: int | None
) -> GiftSend | None:
    first = gift_send_of_key(sender_id=sender.pk, idempotency_key=idempotency_key)
    if first is None:
        return None
    if (first.receiver_id, first.gift_id, first.call_id) != (to, gift_id, call_id):
        raise IdempotencyMismatch(
            "This idempotency key was used for a different gift.",
            details={"idempotency_key": ["Used before for another gift."]},
        )
    return first


def _receiver(*, sender: User, to: int) -> User:
    state = recipient_state(sender_id=sender.pk, recipient_id=to)
    if state == "missing":
        raise NotFound("No such user.", details={"to": ["No such user."]})
    if state == "blocked":
        raise Blocked("You can't send a gift to this user.")
    receiver = User.objects.only("id", "name", "gender", "role").filter(pk=to).first()
    if receiver is None:  # deleted in the instant since
        raise NotFound("No such user.", details={"to": ["No such user."]})
    # Hosts earn (API.md, Accounts: earnings follow the role); a gift pays its receiver the
    # host share, so like a call it goes to a host.
    if not receiver.is_host:
        raise PermissionDenied("Only hosts receive gifts.")
    return receiver


def _check_call(*, call_id: int, sender: User, receiver: User) -> None:
    """The call is active between the two. Read without a lock: a call that ends while the
    gift is being sent still had both parties in it when the gift was sent."""
    call = call_of_sender(call_id=call_id, sender_id=sender.pk)
    if call is None:
        raise NotFound("No such call.", details={"call_id": ["No such call of yours."]})
    caller_id, callee_id, status = call
    if receiver.pk not in (caller_id, callee_id):
        raise ValidationFailed(
            "The receiver is not in this call.",
            details={"call_id": ["The receiver is not in this call."]},
        )
    if status != CallStatus.ACTIVE:
        raise Conflict("The call is not active.", details={"status": status})


def _send(
    *, sender: User, receiver: User, gift: Gift, call_id: int | None, idempotency_key: str
) -> GiftSend:
    cost = gift.cost_coins
    sender_wallet = wallet_ensure(user_id=sender.pk)
    receiver_wallet = wallet_ensure(user_id=receiver.pk)
    metadata: dict[str, Any] = {"gift_id": gift.pk, "gift_name": gift.name}
    if call_id is not None:
        metadata["call_id"] = call_id
    with transaction.atomic():
        send_id = reference_id_reserve(model=GiftSend)
        key = (
            f"gift:user:{sender.pk}:key:{idempotency_key}" if idempotency_key else f"gift:{send_id}"
        )
        legs = spend_legs(
            payer=sender_wallet,
            earner=receiver_wallet,
            amount=cost,
            earner_percent=settings.HOST_SHARE_PERCENT,
            key=key,
            payer_type=EntryType.GIFT_SENT,
            earner_type=EntryType.GIFT_RECEIVED,
        )
        transfer = wallet_transfer(
            kind=TransactionKind.GIFT,
            idempotency_key=key,
            reference=f"gift:{send_id}",
            metadata=metadata,
            legs=legs,
        )
        send = GiftSend.objects.create(
            id=send_id,
            sender=sender,
            receiver=receiver,
            gift=gift,
            coins_spent=cost,
            # The receiver's leg (none at a 0 % share).
            receiver_coins=sum(leg.amount for leg in legs if leg.wallet_id == receiver_wallet),
            call_id=call_id,
            transfer=transfer.transaction,
            idempotency_key=idempotency_key,
        )
        data = gift_send_data(send)
        # In a call both parties see the gift land; otherwise the receiver learns of it
        # (the sender has the answer, and the balance push on every device).
        for user_id in (sender.pk, receiver.pk) if call_id is not None else (receiver.pk,):
            notify(user_id, "gift:sent", data)
    return send
