"""The call lifecycle (API.md, Calls; docs/calls.md): invite, answer, end, the ring timeout
and the disconnect grace. The REST views and the socket handlers both call these functions,
so both doors behave the same. Every close goes through `calls.closing.call_close`; the
signaling relay is `calls.signaling`.

Races (accept, reject, end, ring timeout, disconnect, billing) are settled on the call row:
every change of state locks it (SELECT ... FOR NO KEY UPDATE) and re-checks the status, so
exactly one wins and the others get Conflict. NO KEY UPDATE, like the billing tick: a gift
sent in the call holds the parties' wallets and takes a KEY SHARE lock on the call row at
commit (its foreign key), while a close that pays started periods holds the call and then
locks the wallets; FOR UPDATE would deadlock the two. Invites lock both users' rows in
primary-key order, so two invites involving the same user queue and the second sees the
first one's call; the partial unique constraints on Call back that up.

Pushes, busy marks and the relay's cache change only after the transaction commits.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from accounts.presence import presence_busy_set, presence_gone_since, presence_has_socket
from accounts.selectors import is_blocked_between, user_get_active
from calls.charging import call_charge_period
from calls.closing import call_close, call_release_on_commit
from calls.models import OPEN_STATUSES, Call, CallStatus, EndReason
from calls.payloads import call_data
from calls.signaling import relay_open
from videochat.errors import (
    Blocked,
    Conflict,
    InsufficientFunds,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from videochat.gateway import notify
from videochat.ratelimit import rate_limit
from wallet.ledger.debts import account_restriction_check
from wallet.ledger.services import wallet_of_user


class CalleeBusy(Conflict):
    code = "callee_busy"


class CalleeOffline(Conflict):
    code = "callee_offline"


# --- Invite ---------------------------------------------------------------------------------


def call_invite(*, caller: User, callee_id: int) -> Call:
    """Ring the host `callee_id` on every one of their sockets. Refused, in this order:
    calling oneself (400), unknown callee (404), a callee who is not a host (403
    permission_denied), a block either way (403 blocked), a caller who owes coins of a
    reversed purchase (403 account_restricted), a caller who can't pay one period (402), a
    callee with no live socket (409 callee_offline), a caller already in a ringing or active
    call (409 conflict), a callee in one (409 callee_busy). Before all that, at most
    CALL_INVITE_RATE invites per caller (429 rate_limited): every invite rings a phone."""
    rate_limit(
        action="call:invite", user_id=caller.pk, rate=settings.CALL_INVITE_RATE, what="calls"
    )
    if callee_id == caller.pk:
        raise ValidationFailed(
            "You can't call yourself.", details={"callee_id": ["You can't call yourself."]}
        )
    callee = user_get_active(user_id=callee_id)
    if not callee.is_host:
        raise PermissionDenied("Only hosts take calls.")
    if is_blocked_between(caller.pk, callee.pk):
        raise Blocked("You can't call this user.")
    # A first look only, to refuse early: accept charges the first period for real.
    wallet = wallet_of_user(user_id=caller.pk)
    account_restriction_check(wallet=wallet)
    balance = wallet.balance
    if balance < callee.rate_per_minute:
        raise InsufficientFunds(
            "Not enough coins for one minute of this call.",
            details={"balance": balance, "needed": callee.rate_per_minute},
        )
    if not presence_has_socket(user_id=callee.pk):
        raise CalleeOffline("The user is not connected.")

    with transaction.atomic():
        # Every invite involving either user queues here, so the checks below see the
        # calls of the invites that came first, and a ban (user_deactivate) that committed
        # since the request was authenticated.
        active = dict(
            User.objects.select_for_update()
            .filter(pk__in=[caller.pk, callee.pk])
            .order_by("pk")
            .values_list("pk", "is_active")
        )
        if not active.get(caller.pk):
            raise NotAuthenticated("Your account is not active.")
        if not active.get(callee.pk):
            raise NotFound("No such user.")
        open_calls = Call.objects.filter(status__in=OPEN_STATUSES)
        if open_calls.filter(Q(caller=caller) | Q(callee=caller)).exists():
            raise Conflict("You are already in a call; end it first.")
        if open_calls.filter(Q(caller=callee) | Q(callee=callee)).exists():
            raise CalleeBusy("The user is in another call.")
        try:
            with transaction.atomic():
                call = Call.objects.create(
                    caller=caller,
                    callee=callee,
                    rate_per_minute=callee.rate_per_minute,
                    host_share_percent=settings.HOST_SHARE_PERCENT,
                    billing_period_seconds=settings.CALL_BILLING_PERIOD_SECONDS,
                )
        except IntegrityError as exc:
            # Only reachable if a call was made without the locks above.
            raise CalleeBusy("The user is in another call.") from exc
        _open_on_commit(call)
        notify(callee.pk, "call:invite", {"call": call_data(call)})
    return call


def _open_on_commit(call: Call) -> None:
    """Once the invite commits: mark both parties busy and open the relay. Robust: the call
    is committed either way; a lost mark only costs the relay a database lookup, or fades
    with the user's presence (busy)."""
    call_id, parties = call.pk, (call.caller_id, call.callee_id)

    def mark() -> None:
        presence_busy_set(user_ids=parties, call_id=call_id)
        relay_open(call_id=call_id, parties=parties)

    transaction.on_commit(mark, robust=True)


# --- Answer ---------------------------------------------------------------------------------


def call_accept(*, call_id: int, user: User) -> Call:
    """The callee takes the call: it turns active and the first period is charged at once.
    A caller who can't pay it fails the call (status `failed`, reason `insufficient_funds`,
    `call:end` to both) and the accept still answers with that call."""
    with transaction.atomic():
        call = _lock_for_answer(call_id=call_id, user=user)
        call.status = CallStatus.ACTIVE
        call.started_at = timezone.now()
        call.billing_period_seconds = settings.CALL_BILLING_PERIOD_SECONDS
        call.save(update_fields=["status", "started_at", "billing_period_seconds"])
        try:
            # A savepoint: a refused charge leaves nothing behind, the call row included.
            with transaction.atomic():
                call_charge_period(call_id=call.pk, period=1)
        except InsufficientFunds:
            call.started_at = None  # it never started
            call.save(update_fields=["started_at"])
            return call_close(
                call=call, status=CallStatus.FAILED, reason=EndReason.INSUFFICIENT_FUNDS
            )
        call.refresh_from_db(fields=["periods_charged", "total_coins", "next_charge_at"])
        _notify_answer(call, accepted=True)
    return call


def call_reject(*, call_id: int, user: User) -> Call:
    """The callee declines the ringing call (status `rejected`)."""
    with transaction.atomic():
        call = _lock_for_answer(call_id=call_id, user=user)
        return _reject(call)


def _lock_for_answer(*, call_id: int, user: User) -> Call:
    call = _lock_call(call_id=call_id, user=user)
    if call.callee_id != user.pk:
        raise PermissionDenied("Only the callee answers a call.")
    if call.status != CallStatus.RINGING:
        raise Conflict("The call is not ringing any more.", details={"status": call.status})
    return call


def _reject(call: Call) -> Call:
    call.status = CallStatus.REJECTED
    call.ended_at = timezone.now()
    call.ended_by = call.callee
    call.save(update_fields=["status", "ended_at", "ended_by"])
    call_release_on_commit(call)
    _notify_answer(call, accepted=False)
    return call


def _notify_answer(call: Call, *, accepted: bool) -> None:
    # Every socket of both: the callee's other devices stop ringing on it.
    payload = {"call_id": call.pk, "accepted": accepted, "call": call_data(call)}
    for user_id in (call.caller_id, call.callee_id):
        notify(user_id, "call:answer", payload)


# --- End ------------------------------------------------------------------------------------


def call_end(*, call_id: int, user: User) -> Call:
    """Either party hangs up. An active call ends (`ended`); a ringing one ended by the
    caller is `missed` (the callee missed it), by the callee it is a rejection."""
    with transaction.atomic():
        call = _lock_call(call_id=call_id, user=user)
        if call.status not in OPEN_STATUSES:
            raise Conflict("The call is over already.", details={"status": call.status})
        if call.status == CallStatus.RINGING and user.pk == call.callee_id:
            return _reject(call)
        status = CallStatus.ENDED if call.status == CallStatus.ACTIVE else CallStatus.MISSED
        return call_close(call=call, status=status, reason=EndReason.HANGUP, ended_by=user)


def call_end_all_of_user(*, user: User, reason: EndReason) -> list[Call]:
    """End every ringing or active call of `user`, who may take part in none any more (a
    deactivated account: reason `banned`): active calls `ended`, ringing ones `missed`, with
    `ended_by` the user, through call_close. Waits for a call that is being answered or
    ended right now, and sees how that finished."""
    with transaction.atomic():
        calls = list(
            Call.objects.select_for_update(of=("self",), no_key=True)
            .select_related("caller", "callee")
            .filter(Q(caller=user) | Q(callee=user), status__in=OPEN_STATUSES)
            .order_by("pk")
        )
        for call in calls:
            status = CallStatus.ENDED if call.status == CallStatus.ACTIVE else CallStatus.MISSED
            call_close(call=call, status=status, reason=reason, ended_by=user)
    return calls


def _lock_call(*, call_id: int, user: User) -> Call:
    """The call, locked, if `user` is a party; NotFound otherwise (as for unknown ids)."""
    call = (
        Call.objects.select_for_update(of=("self",), no_key=True)
        .select_related("caller", "callee")
        .filter(Q(caller=user) | Q(callee=user), pk=call_id)
        .first()
    )
    if call is None:
        raise NotFound("No such call.")
    return call


# --- Ticks (Celery beat, every CALL_TICK_SECONDS) --------------------------------------------


def call_expire_ringing(*, now: datetime | None = None) -> int:
    """Ringing calls older than CALL_RING_TIMEOUT_SECONDS become `missed` (reason
    `timeout`). Returns how many; safe to run twice at once."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.CALL_RING_TIMEOUT_SECONDS)
    due = Call.objects.filter(status=CallStatus.RINGING, created_at__lte=cutoff)
    return sum(
        _close_if_still(call_id, statuses=[CallStatus.RINGING], reason=EndReason.TIMEOUT)
        for call_id in due.values_list("pk", flat=True)
    )


def call_end_disconnected(*, now: datetime | None = None) -> int:
    """Ringing or active calls with a party that has had no live socket for
    CALL_DISCONNECT_GRACE_SECONDS end with reason `disconnected` (active ones `ended`,
    ringing ones `missed`). The grace counts from when the party's last socket went away,
    or from the call's creation if that is later. Returns how many; safe to run twice."""
    now = now or timezone.now()
    open_calls = list(
        Call.objects.filter(status__in=OPEN_STATUSES).values_list(
            "pk", "caller_id", "callee_id", "created_at"
        )
    )
    if not open_calls:
        return 0
    parties = {user_id for _, *pair, _ in open_calls for user_id in pair}
    gone = presence_gone_since(user_ids=parties, now=now.timestamp())
    cutoff = now.timestamp() - settings.CALL_DISCONNECT_GRACE_SECONDS
    ended = 0
    for call_id, caller_id, callee_id, created_at in open_calls:
        away = [
            (max(since, created_at.timestamp()), user_id)
            for user_id in (caller_id, callee_id)
            if (since := gone[user_id]) is not None
        ]
        overdue = [(since, user_id) for since, user_id in away if since <= cutoff]
        if overdue:
            _, first_gone = min(overdue)
            ended += _close_if_still(
                call_id,
                statuses=OPEN_STATUSES,
                reason=EndReason.DISCONNECTED,
                ended_by_id=first_gone,
            )
    return ended


def _close_if_still(
    call_id: int,
    *,
    statuses: list[CallStatus],
    reason: EndReason,
    ended_by_id: int | None = None,
) -> bool:
    """Close the call if it is still in one of `statuses`. A call someone else holds locked
    right now (being answered or ended) is skipped: the next tick looks again."""
    with transaction.atomic():
        call = (
            Call.objects.select_for_update(of=("self",), skip_locked=True, no_key=True)
            .select_related("caller", "callee")
            .filter(pk=call_id, status__in=statuses)
            .first()
        )
        if call is None:
            return False
        ended_by = next((u for u in (call.caller, call.callee) if u.pk == ended_by_id), None)
        status = CallStatus.ENDED if call.status == CallStatus.ACTIVE else CallStatus.MISSED
        call_close(call=call, status=status, reason=reason, ended_by=ended_by)
    return True
