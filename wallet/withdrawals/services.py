"""Withdrawals: hosts cashing out coins (API.md, Wallet; docs/withdrawals.md).

`pending -> approved -> paid`, or `pending -> rejected`, or `approved -> failed -> refunded`
(the payout gave up; staff may also send a failed one back to `approved`), or
`paid -> failed -> refunded` at once when the payout provider reports that the money came
back (a reversed transfer, a payout the host's bank refused: `withdrawal_payout_returned`).
The coins leave the host's balance the moment she asks, into a withdrawal-hold shard, so
they can't be spent while staff decide; a rejection or a refund returns them from there, a
payout moves them on to the payouts wallet once the payout provider has confirmed the money
went out (and a returned payout back from there). Every movement is a `wallet_transfer`
keyed by withdrawal and step (`withdrawal:<id>:hold|refund|payout`; the hold by the
client's Idempotency-Key when it sent one), so none happens twice: a withdrawal is rejected
or refunded, never both.

Review: a request waits WITHDRAWAL_COOLING_OFF_HOURS before anyone may approve it; then beat
(`withdrawals_auto_review`) approves it within the limits or leaves it for staff, saying why
(`review_note`). Every decision, the system's (no actor) or staff's, writes its audit entry
(adminpanel.audit) in the decision's transaction.

Concurrency: each status change locks the withdrawal row and checks the status under the
lock (approve vs reject: one wins, the other is a Conflict); a payout attempt is claimed by
a conditional UPDATE of the attempt counter (two workers: one calls the provider). Lock
order is the withdrawal row, then wallets (inside `wallet_transfer`); a new request locks
wallets before inserting its row, which never waits on another withdrawal's row lock: it
only gets that far when the host has no open withdrawal.
"""

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from adminpanel.audit.services import REASON_MAX, audit_record, reason_clean
from videochat.errors import (
    Conflict,
    HostNotVerified,
    IdempotencyMismatch,
    InsufficientFunds,
    NotFound,
    PayoutsNotEnabled,
    PermissionDenied,
    ValidationFailed,
)
from videochat.gateway.notify import notify
from videochat.timestamps import iso_timestamp
from wallet.ledger.debts import account_restriction_check, wallets_lock
from wallet.ledger.models import EntryType, Transaction, TransactionKind, WalletKind
from wallet.ledger.selectors import wallet_withdrawable
from wallet.ledger.services import (
    Leg,
    reference_id_reserve,
    system_wallet_id,
    wallet_ensure,
    wallet_transfer,
)
from wallet.payouts.models import PayoutAccount
from wallet.payouts.rates import coins_value, payout_currency
from wallet.payouts.services import payout_account_status, payout_destination
from wallet.withdrawals.models import Withdrawal
from wallet.withdrawals.payloads import withdrawal_data
from wallet.withdrawals.providers import PayoutRequest, payout_provider
from wallet.withdrawals.selectors import coins_auto_approved_since, host_standing_concern

logger = logging.getLogger(__name__)

# Failed payout attempts after which the sweep gives up: the withdrawal becomes `failed`,
# for staff to refund or retry (admin actions).
PAYOUT_MAX_ATTEMPTS = 5
# Payouts one sweep attempts; the next tick (a minute later) takes the rest.
PAYOUT_BATCH = 100

_ONE_OPEN_CONSTRAINT = "withdrawal_one_open_per_user"


# --- Request -------------------------------------------------------------------------------


def withdrawal_request(*, user: User, coins: int, idempotency_key: str | None = None) -> Withdrawal:
    """A host asks to cash out `coins`: they move to a hold at once, in the transaction that
    creates the withdrawal, `pending` until beat or staff review it. With a client
    `idempotency_key`, the same key and amount return the first withdrawal again.
    Raises PermissionDenied (not a host), HostNotVerified, PayoutsNotEnabled (Stripe pays out
    and her payout account is not enabled), ValidationFailed (amount out of bounds),
    AccountRestricted (she owes coins of a reversed purchase), InsufficientFunds, Conflict
    (another withdrawal is open), IdempotencyMismatch."""
    if not user.is_host:
        raise PermissionDenied("Only hosts can withdraw coins.")
    if not user.is_verified_host:
        raise HostNotVerified("Staff have not verified this host yet: no withdrawals before.")
    _check_payouts_enabled(user)
    # The client's key names the hold transaction, so a repeat finds the first request.
    client_hold_key = (
        f"withdrawal:user:{user.pk}:request:{idempotency_key}" if idempotency_key else None
    )
    if client_hold_key is not None:
        first = _request_replayed(hold_key=client_hold_key, coins=coins)
        if first is not None:
            return first
    _check_amount(coins)
    try:
        return _request_open(user=user, coins=coins, client_hold_key=client_hold_key)
    except (IntegrityError, IdempotencyMismatch) as error:
        # A concurrent request won: the unique open-withdrawal index refused this row, or
        # (same client key) the ledger found the other request's hold under the key.
        if isinstance(error, IntegrityError) and not _violates_one_open(error):
            raise
        if client_hold_key is not None:
            first = _request_replayed(hold_key=client_hold_key, coins=coins)
            if first is not None:
                return first
        if isinstance(error, IdempotencyMismatch):
            raise
        raise _already_open(user) from error


def _check_payouts_enabled(user: User) -> None:
    """With Stripe paying out, only to a connected account Stripe enabled (the sandbox pays
    anyone)."""
    if settings.PAYOUT_PROVIDER != "stripe":
        return
    status = payout_account_status(user=user)
    if status != PayoutAccount.Status.ENABLED:
        raise PayoutsNotEnabled(
            "Finish setting up payouts first (POST /payouts/onboarding).",
            details={"payout_account": status},
        )


def _request_replayed(*, hold_key: str, coins: int) -> Withdrawal | None:
    withdrawal = Withdrawal.objects.filter(hold__idempotency_key=hold_key).first()
    if withdrawal is not None and withdrawal.coins != coins:
        raise IdempotencyMismatch(
            "This idempotency key was used for a different request.",
            details={"idempotency_key": ["Used before with other coins."]},
        )
    return withdrawal


def _check_amount(coins: int) -> None:
    low, high = settings.WITHDRAWAL_MIN_COINS, settings.WITHDRAWAL_MAX_COINS
    if not low <= coins <= high:
        raise ValidationFailed(
            "The amount is out of bounds.",
            details={"coins": [f"Withdraw from {low} to {high} coins at a time."]},
        )


def _already_open(user: User) -> Conflict:
    open_id = (
        Withdrawal.objects.filter(user=user, status__in=Withdrawal.OPEN_STATUSES)
        .values_list("id", flat=True)
        .first()
    )
    return Conflict(
        "You already have a withdrawal in progress.", details={"withdrawal_id": open_id}
    )


def _violates_one_open(error: IntegrityError) -> bool:
    diag = getattr(error.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) == _ONE_OPEN_CONSTRAINT


def _request_open(*, user: User, coins: int, client_hold_key: str | None) -> Withdrawal:
    now = timezone.now()
    user_wallet = wallet_ensure(user_id=user.pk)
    with transaction.atomic():
        # A friendly early answer; the unique index is what holds under races.
        if Withdrawal.objects.filter(user=user, status__in=Withdrawal.OPEN_STATUSES).exists():
            raise _already_open(user)
        withdrawal_id = reference_id_reserve(model=Withdrawal)
        hold_key = client_hold_key or f"withdrawal:{withdrawal_id}:hold"
        hold_wallet = system_wallet_id(kind=WalletKind.WITHDRAWAL_HOLD, key=hold_key)
        _check_withdrawable(user=user, coins=coins, wallet_ids=[user_wallet, hold_wallet], now=now)
        hold = wallet_transfer(
            kind=TransactionKind.WITHDRAWAL,
            idempotency_key=hold_key,
            reference=f"withdrawal:{withdrawal_id}",
            metadata={"withdrawal_id": withdrawal_id},
            legs=[
                Leg(user_wallet, -coins, EntryType.WITHDRAWAL),
                Leg(hold_wallet, coins, EntryType.WITHDRAWAL),
            ],
        )
        return Withdrawal.objects.create(
            id=withdrawal_id,
            user=user,
            coins=coins,
            hold_wallet_id=hold_wallet,
            hold=hold.transaction,
        )


def _check_withdrawable(*, user: User, coins: int, wallet_ids: list[int], now: datetime) -> None:
    """Raise AccountRestricted while `user` owes coins, InsufficientFunds unless `coins` are
    within what she may withdraw. Locks the wallets the hold will move (primary-key order,
    as wallet_transfer does, which then finds them locked) first, so a concurrent request or
    spend waits and can't pass on the same earnings."""
    locked = wallets_lock(set(wallet_ids))
    account_restriction_check(wallet=locked[wallet_ids[0]])
    withdrawable = wallet_withdrawable(user=user, now=now)
    if coins > withdrawable:
        raise InsufficientFunds(
            "Only coins you earned can be withdrawn, once they have settled.",
            details={"withdrawable": withdrawable, "needed": coins},
        )


# --- Auto-review (beat) ----------------------------------------------------------------------


def withdrawals_auto_review(*, limit: int = PAYOUT_BATCH) -> int:
    """Beat's review of the pending withdrawals whose cooling-off is over and that it has not
    looked at yet, oldest first: each is approved within the limits or left for staff with
    the reason (`withdrawal_auto_review`). Returns how many it approved."""
    now = timezone.now()
    due = (
        Withdrawal.objects.filter(
            status=Withdrawal.Status.PENDING,
            review_note="",
            created_at__lte=now - _cooling_off(),
        )
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    approved = 0
    for withdrawal_id in list(due):
        withdrawal = withdrawal_auto_review(withdrawal_id=withdrawal_id, now=now)
        if withdrawal.auto_approved:
            approved += 1
    return approved


def withdrawal_auto_review(*, withdrawal_id: int, now: datetime) -> Withdrawal:
    """The system's decision on one pending withdrawal past its cooling-off: approved when
    it is within the per-request and per-day limits and the host is in good standing, else
    left pending for staff; either way the reason is kept (`review_note`) and audited with
    no actor (the system). Under the withdrawal's row lock, so two sweeps decide once."""
    with transaction.atomic():
        withdrawal = _locked(withdrawal_id)
        if (
            withdrawal.status != Withdrawal.Status.PENDING
            or withdrawal.review_note
            or now < withdrawal_reviewable_at(withdrawal)
        ):
            return withdrawal
        concern = _auto_approval_concern(withdrawal, now)
        if concern is None:
            withdrawal.status = Withdrawal.Status.APPROVED
            withdrawal.auto_approved = True
            withdrawal.reviewed_at = now
            withdrawal.review_note = (
                f"Auto-approved: at most {settings.WITHDRAWAL_AUTO_APPROVE_MAX_COINS} coins, "
                f"within the host's {settings.WITHDRAWAL_AUTO_APPROVE_DAILY_MAX_COINS} a day, "
                "host in good standing."
            )
            _price(withdrawal)
            withdrawal.save(
                update_fields=[
                    "status",
                    "auto_approved",
                    "reviewed_at",
                    "review_note",
                    "amount",
                    "currency",
                ]
            )
            action = "withdrawal.auto_approve"
            _announce(withdrawal)
        else:
            withdrawal.review_note = f"For staff: {concern}"
            withdrawal.save(update_fields=["review_note"])
            action = "withdrawal.refer_to_staff"
        audit_record(
            actor=None,
            action=action,
            target=withdrawal,
            before={"status": Withdrawal.Status.PENDING},
            after={"status": withdrawal.status},
            reason=withdrawal.review_note,
        )
    return withdrawal


def _auto_approval_concern(withdrawal: Withdrawal, now: datetime) -> str | None:
    """Why the system leaves `withdrawal` to staff, or None when it may approve it."""
    if _needs_two_approvals(withdrawal):
        above = settings.WITHDRAWAL_TWO_APPROVALS_ABOVE_COINS
        return f"above {above} coins: two members of staff must approve it."
    per_request = settings.WITHDRAWAL_AUTO_APPROVE_MAX_COINS
    if not per_request:
        return "auto-approval is off."
    if withdrawal.coins > per_request:
        return f"above the auto-approval limit of {per_request} coins per request."
    per_day = settings.WITHDRAWAL_AUTO_APPROVE_DAILY_MAX_COINS
    earlier = coins_auto_approved_since(user=withdrawal.user, since=now - timedelta(days=1))
    if earlier + withdrawal.coins > per_day:
        return (
            f"the host's auto-approved withdrawals of the last 24 hours ({earlier} coins) "
            f"would go above {per_day} coins."
        )
    standing = host_standing_concern(user=withdrawal.user, now=now)
    return None if standing is None else f"not in good standing: {standing}"


def _cooling_off() -> timedelta:
    return timedelta(hours=settings.WITHDRAWAL_COOLING_OFF_HOURS)


def withdrawal_reviewable_at(withdrawal: Withdrawal) -> datetime:
    """When the withdrawal's cooling-off ends: no one approves it before."""
    return withdrawal.created_at + _cooling_off()


# --- Review (staff) --------------------------------------------------------------------------


def withdrawal_approve(*, withdrawal_id: int, staff: User) -> Withdrawal:
    """Staff let a pending withdrawal be paid (by the next payout sweep). One above
    WITHDRAWAL_TWO_APPROVALS_ABOVE_COINS needs two different members of staff: the first
    approval is recorded (`first_approved_by`) and it stays pending until the second.
    Raises Conflict when it is no longer pending, still cooling off, or when the staff member
    who gave the first approval approves again."""
    _check_staff(staff)
    with transaction.atomic():
        withdrawal = _locked(withdrawal_id)
        _check_pending(withdrawal)
        now = timezone.now()
        if now < withdrawal_reviewable_at(withdrawal):
            reviewable_at = withdrawal_reviewable_at(withdrawal)
            raise Conflict(
                f"Cooling off until {reviewable_at:%Y-%m-%d %H:%M} UTC: no approval before then.",
                details={"reviewable_at": iso_timestamp(reviewable_at)},
            )
        if _needs_two_approvals(withdrawal):
            if withdrawal.first_approved_by_id is None:
                return _approve_first(withdrawal, staff, now)
            if withdrawal.first_approved_by_id == staff.pk:
                raise Conflict(
                    "You gave the first approval; a second member of staff must approve it.",
                    details={"first_approved_by": staff.email},
                )
        withdrawal.status = Withdrawal.Status.APPROVED
        withdrawal.reviewed_by = staff
        withdrawal.reviewed_at = now
        _price(withdrawal)
        withdrawal.save(
            update_fields=["status", "reviewed_by", "reviewed_at", "amount", "currency"]
        )
        # The second approval of two names the first in its entry.
        first = (
            {"first_approved_by": withdrawal.first_approved_by}
            if withdrawal.first_approved_by_id
            else {}
        )
        _audit(
            withdrawal,
            staff,
            "withdrawal.approve",
            Withdrawal.Status.PENDING,
            before=first,
            after=first,
        )
        _announce(withdrawal)
    return withdrawal


def _price(withdrawal: Withdrawal) -> Decimal:
    """Fix what the approved withdrawal pays (`amount`, `currency`; not saved): its coins at
    PAYOUT_COIN_RATES, in the host's payout currency when there is a rate for it. Once: a
    retried payout pays the same."""
    if withdrawal.amount is not None:
        return withdrawal.amount
    account = payout_destination(user_id=withdrawal.user_id)
    withdrawal.currency = payout_currency(account.currency if account else "")
    withdrawal.amount = coins_value(coins=withdrawal.coins, currency=withdrawal.currency)
    return withdrawal.amount


def _needs_two_approvals(withdrawal: Withdrawal) -> bool:
    return withdrawal.coins > settings.WITHDRAWAL_TWO_APPROVALS_ABOVE_COINS


def _approve_first(withdrawal: Withdrawal, staff: User, now: datetime) -> Withdrawal:
    """Record the first of two approvals on a locked withdrawal; it stays pending."""
    withdrawal.first_approved_by = staff
    withdrawal.first_approved_at = now
    withdrawal.save(update_fields=["first_approved_by", "first_approved_at"])
    _audit(
        withdrawal,
        staff,
        "withdrawal.approve_first",
        Withdrawal.Status.PENDING,
        before={"first_approved_by": None},
        after={"first_approved_by": staff},
    )
    return withdrawal


def withdrawal_reject(*, withdrawal_id: int, staff: User, reason: str) -> Withdrawal:
    """Staff turn a pending withdrawal down: the held coins go back to the host as a
    `withdrawal_refund`. Raises Conflict when it is no longer pending (an approved one may
    already be on its way to the host's bank)."""
    _check_staff(staff)
    reason = reason_clean(reason, message="Give the host a reason.")
    with transaction.atomic():
        withdrawal = _locked(withdrawal_id)
        _check_pending(withdrawal)
        _give_back(
            withdrawal,
            Withdrawal.Status.REJECTED,
            reviewed_by=staff,
            reviewed_at=timezone.now(),
            rejection_reason=reason,
        )
        _audit(withdrawal, staff, "withdrawal.reject", Withdrawal.Status.PENDING, reason=reason)
    return withdrawal


def withdrawal_refund(*, withdrawal_id: int, staff: User, reason: str) -> Withdrawal:
    """Staff give up on a failed payout: the held coins go back to the host as a
    `withdrawal_refund`, with the reason she is shown. Only a `failed` withdrawal: staff
    first make sure with the provider that no money went out (a timeout looks like a
    failure). Raises Conflict otherwise, also when it was refunded already (a double click
    moves the coins once)."""
    _check_staff(staff)
    reason = reason_clean(reason, message="Give the host a reason.")
    with transaction.atomic():
        withdrawal = _locked(withdrawal_id)
        if withdrawal.status != Withdrawal.Status.FAILED:
            raise Conflict(
                f"The withdrawal is {withdrawal.status}, not failed.",
                details={"status": withdrawal.status},
            )
        _give_back(
            withdrawal,
            Withdrawal.Status.REFUNDED,
            refunded_by=staff,
            refunded_at=timezone.now(),
            refund_reason=reason,
        )
        _audit(withdrawal, staff, "withdrawal.refund", Withdrawal.Status.FAILED, reason=reason)
    return withdrawal


def withdrawal_payout_returned(*, withdrawal_id: int, reason: str) -> bool:
    """The payout provider reports that the money of this withdrawal's payout did not reach
    the host or came back to the platform (Stripe: the transfer was reversed, or the host's
    payout was reversed and its transfer with it): the withdrawal becomes `failed` and at
    once `refunded`, and its coins go back to her (from the payouts wallet when it was
    `paid`, from the hold when the report overtook the sweep or it had failed already).
    Under the row lock and the refund's ledger key, so duplicate reports refund once.
    Returns whether this call refunded it; a pending, rejected or refunded one is left as
    it is. Audited with no actor (the provider)."""
    returnable = (Withdrawal.Status.APPROVED, Withdrawal.Status.PAID, Withdrawal.Status.FAILED)
    with transaction.atomic():
        withdrawal = _locked(withdrawal_id)
        was = withdrawal.status
        if was not in returnable:
            return False
        now = timezone.now()
        withdrawal.payout_error = reason[:300]
        withdrawal.failed_at = withdrawal.failed_at or now
        _give_back(
            withdrawal,
            Withdrawal.Status.REFUNDED,
            paid_out=was == Withdrawal.Status.PAID,
            payout_error=withdrawal.payout_error,
            failed_at=withdrawal.failed_at,
            refunded_at=now,
            refund_reason=f"The payout came back: {reason}"[:REASON_MAX],
        )
        audit_record(
            actor=None,
            action="withdrawal.payout_returned",
            target=withdrawal,
            before={"status": was},
            after={"status": withdrawal.status},
            reason=withdrawal.refund_reason,
        )
    logger.warning("Payout of withdrawal %s came back (%s): refunded", withdrawal_id, reason)
    return True


def withdrawal_payout_retry(*, withdrawal_id: int, staff: User) -> Withdrawal:
    """Staff send a failed withdrawal back to the payout sweep (`approved` again, with a
    fresh count of attempts), e.g. once the host's payout details are fixed. Raises
    Conflict unless it is failed, or while the host has another open withdrawal (one at a
    time: refund this one instead, or retry once the other is settled)."""
    _check_staff(staff)
    try:
        with transaction.atomic():
            withdrawal = _locked(withdrawal_id)
            if withdrawal.status != Withdrawal.Status.FAILED:
                raise Conflict(
                    f"The withdrawal is {withdrawal.status}; only a failed payout is retried.",
                    details={"status": withdrawal.status},
                )
            attempts = withdrawal.payout_attempts
            withdrawal.status = Withdrawal.Status.APPROVED
            withdrawal.payout_attempts = 0
            withdrawal.failed_at = None
            withdrawal.save(update_fields=["status", "payout_attempts", "failed_at"])
            _audit(
                withdrawal,
                staff,
                "withdrawal.payout_retry",
                Withdrawal.Status.FAILED,
                before={"payout_attempts": attempts},
                after={"payout_attempts": 0},
            )
            _announce(withdrawal)
    except IntegrityError as error:
        if not _violates_one_open(error):
            raise
        other = _already_open(withdrawal.user).details["withdrawal_id"]
        raise Conflict(
            f"The host has another open withdrawal (#{other}); refund this one, or retry "
            "once that one is settled.",
            details={"withdrawal_id": other},
        ) from error
    logger.info("Staff %s sent withdrawal %s back to the payout sweep", staff.pk, withdrawal_id)
    return withdrawal


def _audit(
    withdrawal: Withdrawal,
    staff: User,
    action: str,
    was: str,
    *,
    reason: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """The audit entry of a staff decision on a locked withdrawal that was in status `was`,
    in the decision's transaction."""
    audit_record(
        actor=staff,
        action=action,
        target=withdrawal,
        before={"status": was, **(before or {})},
        after={"status": withdrawal.status, **(after or {})},
        reason=reason,
    )


def _check_staff(staff: User) -> None:
    if not (staff.is_active and staff.is_staff):
        raise PermissionDenied("Only staff review withdrawals.")


def _locked(withdrawal_id: int) -> Withdrawal:
    try:
        return Withdrawal.objects.select_for_update().get(pk=withdrawal_id)
    except Withdrawal.DoesNotExist:
        raise NotFound("No such withdrawal.") from None


def _check_pending(withdrawal: Withdrawal) -> None:
    if withdrawal.status != Withdrawal.Status.PENDING:
        raise Conflict(
            f"The withdrawal is {withdrawal.status}, no longer pending.",
            details={"status": withdrawal.status},
        )


def _give_back(
    withdrawal: Withdrawal, status: str, *, paid_out: bool = False, **decision: Any
) -> None:
    """Close a locked withdrawal as `status` (rejected or refunded) with who decided, when
    and why (`decision`: model fields), return its coins (`_return_held_coins`), and tell the
    host."""
    withdrawal.status = status
    for field, value in decision.items():
        setattr(withdrawal, field, value)
    withdrawal.settlement = _return_held_coins(withdrawal, paid_out=paid_out)
    withdrawal.save(update_fields=["status", *decision, "settlement"])
    _announce(withdrawal)


def _return_held_coins(withdrawal: Withdrawal, *, paid_out: bool = False) -> Transaction:
    """Move a locked withdrawal's coins back to its host (`withdrawal_refund`): from the hold,
    or (`paid_out`: the provider reports the money came back) from the payouts wallet shard
    its payout moved them to. One key per withdrawal, whether it was rejected, its payout
    failed or came back: the ledger moves them at most once."""
    key = f"withdrawal:{withdrawal.pk}:refund"
    source = (
        system_wallet_id(kind=WalletKind.PAYOUTS, key=f"withdrawal:{withdrawal.pk}:payout")
        if paid_out
        else withdrawal.hold_wallet_id
    )
    refund = wallet_transfer(
        kind=TransactionKind.WITHDRAWAL_REFUND,
        idempotency_key=key,
        reference=f"withdrawal:{withdrawal.pk}",
        metadata={"withdrawal_id": withdrawal.pk},
        legs=[
            Leg(source, -withdrawal.coins, EntryType.WITHDRAWAL_REFUND),
            Leg(
                wallet_ensure(user_id=withdrawal.user_id),
                withdrawal.coins,
                EntryType.WITHDRAWAL_REFUND,
            ),
        ],
    )
    return refund.transaction


def _announce(withdrawal: Withdrawal) -> None:
    notify(
        withdrawal.user_id,
        "withdrawal:update",
        {"withdrawal": withdrawal_data(withdrawal)},
    )


# --- Payout ----------------------------------------------------------------------------------


def withdrawals_pay_approved(*, limit: int = PAYOUT_BATCH) -> int:
    """One payout sweep: attempts every approved withdrawal that has attempts left, fresh
    ones first. Safe to run in several processes at once. Returns how many it paid."""
    due = (
        Withdrawal.objects.filter(
            status=Withdrawal.Status.APPROVED, payout_attempts__lt=PAYOUT_MAX_ATTEMPTS
        )
        .order_by("payout_attempts", "id")
        .values_list("id", flat=True)[:limit]
    )
    paid = 0
    for withdrawal_id in list(due):
        withdrawal = withdrawal_pay(withdrawal_id=withdrawal_id)
        if withdrawal is not None and withdrawal.status == Withdrawal.Status.PAID:
            paid += 1
    return paid


def withdrawal_pay(*, withdrawal_id: int) -> Withdrawal | None:
    """One payout attempt of an approved withdrawal. The provider is called outside any
    database transaction, with a key that is the same for every attempt, so a retry after a
    crash finds the payout already made instead of paying again. On success the held coins
    move to the payouts wallet and the withdrawal is `paid`; on failure the error is kept
    and it stays `approved` for the next sweep, or becomes `failed` after the last attempt
    (the coins stay held: staff refund or retry). Returns None when there was nothing to do
    (not approved, out of attempts, or another worker claimed this attempt)."""
    withdrawal = _payout_claim(withdrawal_id)
    if withdrawal is None:
        return None
    try:
        payout_ref = payout_provider().send(_payout_request(withdrawal))
    except Exception as error:
        # Whatever went wrong (a decline, a timeout, an adapter bug), the payout is not
        # confirmed: keep the error for staff and let the next sweep try the same key.
        logger.warning(
            "Payout of withdrawal %s failed (attempt %s): %r",
            withdrawal.pk,
            withdrawal.payout_attempts,
            error,
        )
        return _payout_failed(withdrawal, error)
    return _payout_settle(withdrawal_id=withdrawal.pk, payout_ref=payout_ref)


def _payout_request(withdrawal: Withdrawal) -> PayoutRequest:
    if withdrawal.amount is None:
        # Approved before withdrawals were priced at approval: priced now, once (this
        # worker holds the attempt).
        _price(withdrawal)
        withdrawal.save(update_fields=["amount", "currency"])
    account = payout_destination(user_id=withdrawal.user_id)
    return PayoutRequest(
        idempotency_key=f"withdrawal-{withdrawal.pk}",
        user_id=withdrawal.user_id,
        coins=withdrawal.coins,
        amount=_price(withdrawal),
        currency=withdrawal.currency,
        destination=account.account_id if account else "",
        withdrawal_id=withdrawal.pk,
    )


def _payout_claim(withdrawal_id: int) -> Withdrawal | None:
    """This process's turn at paying: bumping the attempt counter from the value read wins
    for exactly one of several workers that read it at once."""
    withdrawal = Withdrawal.objects.filter(
        pk=withdrawal_id,
        status=Withdrawal.Status.APPROVED,
        payout_attempts__lt=PAYOUT_MAX_ATTEMPTS,
    ).first()
    if withdrawal is None:
        return None
    claimed = Withdrawal.objects.filter(
        pk=withdrawal_id,
        status=Withdrawal.Status.APPROVED,
        payout_attempts=withdrawal.payout_attempts,
    ).update(payout_attempts=F("payout_attempts") + 1)
    if not claimed:
        return None
    withdrawal.payout_attempts += 1
    return withdrawal


def _payout_failed(withdrawal: Withdrawal, error: Exception) -> Withdrawal:
    """Keep the error; after the last attempt, the withdrawal is `failed` and the host hears.
    Conditional on the attempt this worker claimed, so a staff retry in between (a fresh
    count) is not undone."""
    changes: dict[str, object] = {"payout_error": (str(error) or repr(error))[:300]}
    gave_up = withdrawal.payout_attempts >= PAYOUT_MAX_ATTEMPTS
    if gave_up:
        changes.update(status=Withdrawal.Status.FAILED, failed_at=timezone.now())
    with transaction.atomic():
        changed = Withdrawal.objects.filter(
            pk=withdrawal.pk,
            status=Withdrawal.Status.APPROVED,
            payout_attempts=withdrawal.payout_attempts,
        ).update(**changes)
        withdrawal.refresh_from_db()
        if changed and gave_up:
            logger.error(
                "Payout of withdrawal %s gave up after %s attempts: %s",
                withdrawal.pk,
                withdrawal.payout_attempts,
                withdrawal.payout_error,
            )
            _announce(withdrawal)
    return withdrawal


def _payout_settle(*, withdrawal_id: int, payout_ref: str) -> Withdrawal:
    with transaction.atomic():
        withdrawal = _locked(withdrawal_id)
        if withdrawal.status != Withdrawal.Status.APPROVED:
            # Another worker settled the same payout (the provider gave it the same one).
            return withdrawal
        key = f"withdrawal:{withdrawal.pk}:payout"
        payout = wallet_transfer(
            kind=TransactionKind.WITHDRAWAL_PAYOUT,
            idempotency_key=key,
            reference=f"withdrawal:{withdrawal.pk}",
            metadata={"withdrawal_id": withdrawal.pk},
            legs=[
                Leg(withdrawal.hold_wallet_id, -withdrawal.coins, EntryType.WITHDRAWAL_PAYOUT),
                Leg(
                    system_wallet_id(kind=WalletKind.PAYOUTS, key=key),
                    withdrawal.coins,
                    EntryType.WITHDRAWAL_PAYOUT,
                ),
            ],
        )
        withdrawal.status = Withdrawal.Status.PAID
        withdrawal.paid_at = timezone.now()
        # The money went out: record it even if a provider's reference overflows the column.
        withdrawal.payout_ref = payout_ref[:100]
        withdrawal.payout_error = ""
        withdrawal.settlement = payout.transaction
        withdrawal.save(
            update_fields=["status", "paid_at", "payout_ref", "payout_error", "settlement"]
        )
        _announce(withdrawal)
    return withdrawal
