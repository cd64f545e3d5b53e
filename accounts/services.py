"""Every write of the accounts app: registration, JWT sessions, profiles, blocks, reports,
deactivation and reactivation, host verification."""

import logging
from typing import Any, TypedDict

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, Token, UntypedToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts.models import Block, Report, Role, User
from accounts.payloads import profile_data
from accounts.presence import (
    presence_block_changed,
    presence_location_set,
    presence_user_offline,
)
from accounts.selectors import user_get_active
from accounts.tokens import SessionRefreshToken
from adminpanel.audit.services import audit_record
from calls.models import EndReason
from calls.services import call_end_all_of_user
from videochat.errors import Conflict, NotAuthenticated, ValidationFailed
from videochat.gateway.auth import SESSION_CLAIM
from videochat.gateway.notify import disconnect_user, notify
from wallet.ledger.services import wallet_ensure

logger = logging.getLogger(__name__)


class TokenPair(TypedDict):
    access: str
    refresh: str


class ProfileChanges(TypedDict, total=False):
    """The profile fields a user may change about themselves (PATCH /me)."""

    name: str
    bio: str
    gender: str
    rate_per_minute: int | None
    lat: float | None
    lon: float | None


def email_normalize(email: str) -> str:
    """E-mail addresses are unique regardless of case: stored and looked up lower-case."""
    return email.strip().lower()


def _email_taken() -> Conflict:
    return Conflict(
        "An account with this e-mail already exists.",
        details={"email": ["An account with this e-mail already exists."]},
    )


def user_register(
    *, email: str, password: str, name: str, gender: str, role: str = Role.USER
) -> User:
    """Create a user, with their wallet, who can log in at once. Django's password
    validators apply; a taken
    e-mail (in any letter case) is a Conflict."""
    if role == Role.STAFF:
        # Staff accounts are made in the admin, never by signing up.
        raise ValidationFailed("This role cannot be chosen.", details={"role": ["Not allowed."]})
    user = User(email=email_normalize(email), name=name, gender=gender, role=role)
    try:
        # With the user's own attributes, so "alice@example.com" cannot be alice's password.
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ValidationFailed(
            "The password is too weak.", details={"password": list(exc.messages)}
        ) from exc
    if User.objects.filter(email__iexact=user.email).exists():
        raise _email_taken()
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
            wallet_ensure(user_id=user.pk)
    except IntegrityError:
        # A concurrent registration with the same address won the unique index.
        if User.objects.filter(email=user.email).exists():
            raise _email_taken() from None
        raise
    return user


def auth_token_pair_issue(*, user: User) -> TokenPair:
    """A fresh access + refresh pair starting a new login session (accounts/tokens.py); the
    refresh token is recorded so it can be revoked."""
    return _token_pair(SessionRefreshToken.for_user(user))


def _token_pair(refresh: RefreshToken) -> TokenPair:
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def _refresh_token_revoke(token: Token, *, user: User) -> bool:
    """Blacklist the refresh token; False if it already was. The blacklist row is unique per
    token, so of two concurrent revocations exactly one returns True."""
    outstanding, _ = OutstandingToken.objects.get_or_create(
        jti=token[jwt_settings.JTI_CLAIM],
        defaults={
            "user": user,
            "token": str(token),
            "created_at": token.current_time,
            "expires_at": datetime_from_epoch(token["exp"]),
        },
    )
    _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
    return created


def auth_token_refresh(*, refresh: str) -> TokenPair:
    """Trade a refresh token for a new pair (rotation). Each refresh token works once: it is
    revoked in the same step, and when the same token is sent twice at once only one request
    gets a pair. Deactivated or deleted users get nothing. The new pair stays in the
    token's login session."""
    try:
        token = SessionRefreshToken(refresh)
    except TokenError as exc:
        raise NotAuthenticated("The token is invalid, expired or revoked.") from exc
    user = User.objects.filter(pk=token.get(jwt_settings.USER_ID_CLAIM), is_active=True).first()
    if user is None:
        raise NotAuthenticated("No active account found for the given token.")
    with transaction.atomic():
        if not _refresh_token_revoke(token, user=user):
            raise NotAuthenticated("The token is invalid, expired or revoked.")
        token.rotate()
        return _token_pair(token)


def auth_logout(*, user: User, refresh: str) -> None:
    """End one session of `user` by revoking its refresh token, and close the sockets opened
    with access tokens of that session (4401), on every server, after commit. Revoking an
    already revoked token is fine (a retried logout succeeds); a token of another user, an
    access token or garbage is refused and nothing is revoked. The session's access tokens
    still pass REST until they expire."""
    try:
        # Signature and expiry only: the blacklist check would make a retried logout fail.
        token = UntypedToken(refresh)  # type: ignore[arg-type]
    except TokenError:
        token = None
    if (
        token is None
        or token.get(jwt_settings.TOKEN_TYPE_CLAIM) != RefreshToken.token_type
        or str(token.get(jwt_settings.USER_ID_CLAIM)) != str(user.pk)
    ):
        raise ValidationFailed(
            "This is not a valid refresh token of yours.",
            details={"refresh": ["Not a valid refresh token of yours."]},
        )
    _refresh_token_revoke(token, user=user)
    session = token.get(SESSION_CLAIM)
    if session is not None:  # a token from before sessions names no sockets
        disconnect_user(user.pk, session=str(session), reason="logged_out")


def user_deactivate(*, user: User, by: User | None = None) -> None:
    """Deactivate (ban) the account and cut the user off everywhere at once: no REST request,
    login or refresh works any more (their refresh tokens are revoked, so reactivating does
    not bring old sessions back); their ringing and active calls end with reason `banned`
    (billed as any call that closes); they go offline; and after commit every socket of
    theirs, on every server, closes with 4401. `by` is the staff member (None: the system),
    for the audit log. Deactivating an inactive account does it all again (nothing is left
    open)."""
    with transaction.atomic():
        # The lock waits for an invite that holds the user's row (call_invite locks both
        # users' rows), so that invite's call is there to be ended below.
        # The lock an UPDATE of the row takes, no stronger: rows that refer to the user
        # (calls, blocks) may still be inserted meanwhile.
        was_active = User.objects.select_for_update(no_key=True).values_list("is_active", flat=True)
        before = {"is_active": was_active.get(pk=user.pk)}
        User.objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        audit_record(
            actor=by,
            action="user.deactivate",
            target=user,
            before=before,
            after={"is_active": False},
        )
        outstanding = OutstandingToken.objects.filter(
            user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
        )
        BlacklistedToken.objects.bulk_create(
            [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
        )
        # Offline before the calls' busy marks clear, so partners hear "offline" once
        # rather than "online" first.
        transaction.on_commit(lambda: presence_user_offline(user_id=user.pk), robust=True)
        call_end_all_of_user(user=user, reason=EndReason.BANNED)
        disconnect_user(user.pk, reason="account_disabled")
    logger.info("User %s deactivated by %s", user.pk, by.pk if by else "a service")


def user_reactivate(*, users: QuerySet[User], by: User | None) -> int:
    """Lift the ban of the inactive users among `users`: they may log in anew (their old
    sessions stay revoked), each with its audit entry `user.reactivate`; returns how many
    changed."""
    with transaction.atomic():
        banned = list(
            User.objects.filter(pk__in=users.values("pk"), is_active=False)
            .select_for_update(no_key=True)
            .order_by("pk")
        )
        User.objects.filter(pk__in=[user.pk for user in banned]).update(is_active=True)
        for user in banned:
            user.is_active = True
            audit_record(
                actor=by,
                action="user.reactivate",
                target=user,
                before={"is_active": False},
                after={"is_active": True},
            )
    return len(banned)


def user_update_profile(*, user: User, changes: ProfileChanges) -> User:
    """Apply the user's own profile changes and tell their other devices
    (`profile:update`). Only hosts have a rate (`null` from anyone else changes nothing);
    a location is a point (`lat` and `lon`) or nothing (both null)."""
    fields: dict[str, Any] = dict(changes)
    if "rate_per_minute" in fields:
        rate = fields["rate_per_minute"]
        if not user.is_host and rate is not None:
            raise ValidationFailed(
                "Only hosts set a rate per minute.",
                details={"rate_per_minute": ["Only hosts charge per minute."]},
            )
        if user.is_host and rate is None:
            raise ValidationFailed(
                "A host needs a rate per minute.",
                details={"rate_per_minute": ["This field may not be null."]},
            )
        if rate is None:
            del fields["rate_per_minute"]
    _check_location(fields)
    if not fields:
        return user
    for name, value in fields.items():
        setattr(user, name, value)
    user.save(update_fields=list(fields))
    if "lat" in fields:
        location = (user.lat, user.lon) if user.lat is not None and user.lon is not None else None
        transaction.on_commit(
            lambda: presence_location_set(user_id=user.pk, location=location), robust=True
        )
    notify(user.pk, "profile:update", {"user": profile_data(user)})
    return user


def _check_location(fields: dict[str, Any]) -> None:
    # The database accepts one coordinate without the other (a CHECK passes on NULL), so the
    # pairing is enforced here.
    sent = {"lat", "lon"} & fields.keys()
    if not sent:
        return
    if len(sent) == 1:
        (missing,) = {"lat", "lon"} - sent
        raise ValidationFailed(
            "Send lat and lon together.", details={missing: ["Send lat and lon together."]}
        )
    if (fields["lat"] is None) != (fields["lon"] is None):
        message = "Both must be numbers, or both null."
        raise ValidationFailed(
            "A location needs both lat and lon.", details={"lat": [message], "lon": [message]}
        )


def user_block(*, blocker: User, blocked_id: int) -> None:
    """`blocker` stops calls, messages and gifts from `blocked_id`. Blocking twice is fine."""
    if blocked_id == blocker.pk:
        raise ValidationFailed("You cannot block yourself.")
    blocked = user_get_active(user_id=blocked_id)
    # get_or_create falls back to a read when a concurrent request inserted the row first.
    _, created = Block.objects.get_or_create(blocker=blocker, blocked=blocked)
    if created:
        _presence_block_changed(blocker.pk, blocked.pk)


def user_unblock(*, blocker: User, blocked_id: int) -> None:
    """Lift `blocker`'s block on `blocked_id`, if there is one."""
    if blocked_id == blocker.pk:
        raise ValidationFailed("You cannot unblock yourself.")
    blocked = user_get_active(user_id=blocked_id)
    deleted, _ = Block.objects.filter(blocker=blocker, blocked=blocked).delete()
    if deleted:
        _presence_block_changed(blocker.pk, blocked.pk)


def _presence_block_changed(blocker_id: int, blocked_id: int) -> None:
    # Blocks hide presence pushes either way (docs/presence.md): each side's view of the
    # other is corrected once the change is committed.
    transaction.on_commit(
        lambda: presence_block_changed(user_ids=(blocker_id, blocked_id)), robust=True
    )


def report_create(*, reporter: User, reported_id: int, reason: str, details: str = "") -> Report:
    """File a report for staff. The reported user may have blocked the reporter: harassers
    often block right after, and the report must still reach staff."""
    if reported_id == reporter.pk:
        raise ValidationFailed(
            "You cannot report yourself.", details={"user_id": ["You cannot report yourself."]}
        )
    reported = user_get_active(user_id=reported_id)
    return Report.objects.create(
        reporter=reporter, reported=reported, reason=reason, details=details
    )


def report_close(*, reports: QuerySet[Report], status: Report.Status, by: User | None) -> int:
    """Close the still-open reports among `reports` as resolved or dismissed, each with its
    audit entry (`by`: the staff member); returns how many changed. A closed report keeps
    its first outcome."""
    if status == Report.Status.OPEN:
        raise ValueError("report_close needs a closing status")
    action = "report.resolve" if status == Report.Status.RESOLVED else "report.dismiss"
    with transaction.atomic():
        # Locked by id: `reports` may come with joins or DISTINCT (an admin search).
        chosen = reports.filter(status=Report.Status.OPEN).values("pk")
        still_open = list(
            Report.objects.filter(pk__in=chosen, status=Report.Status.OPEN)
            .select_for_update()
            .order_by("pk")
        )
        Report.objects.filter(pk__in=[report.pk for report in still_open]).update(status=status)
        for report in still_open:
            report.status = status
            audit_record(
                actor=by,
                action=action,
                target=report,
                before={"status": Report.Status.OPEN},
                after={"status": status},
            )
    return len(still_open)


def host_verify(*, users: QuerySet[User], by: User | None) -> int:
    """Verify the unverified hosts among `users` (they may request withdrawals from now on),
    recording who and when, each with its audit entry `user.verify_host`; returns how many
    changed. Others (verified already, not hosts) are left as they are."""
    return _host_verification_set(users, by=by, verified=True)


def host_unverify(*, users: QuerySet[User], by: User | None) -> int:
    """Revoke the verification of the verified hosts among `users` (no withdrawal requests
    until verified again; open ones go on), audited as `user.unverify_host`; returns how
    many changed."""
    return _host_verification_set(users, by=by, verified=False)


def _host_verification_set(users: QuerySet[User], *, by: User | None, verified: bool) -> int:
    now = timezone.now() if verified else None
    with transaction.atomic():
        hosts = _hosts_locked(users, verified=not verified)
        User.objects.filter(pk__in=[host.pk for host in hosts]).update(
            host_verified_at=now, host_verified_by=by if verified else None
        )
        for host in hosts:
            audit_record(
                actor=by,
                action="user.verify_host" if verified else "user.unverify_host",
                target=host,
                before={"host_verified_at": host.host_verified_at},
                after={"host_verified_at": now},
            )
    return len(hosts)


def _hosts_locked(users: QuerySet[User], *, verified: bool) -> list[User]:
    # Locked by id, in id order: `users` may come with joins or DISTINCT (an admin search).
    return list(
        User.objects.filter(
            pk__in=users.values("pk"), role=Role.HOST, host_verified_at__isnull=not verified
        )
        .select_for_update(no_key=True)
        .order_by("pk")
    )
