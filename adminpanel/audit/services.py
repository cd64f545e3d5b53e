"""Writing the audit log. Every staff action on money or users calls `audit_record` inside
its own transaction, so an action that rolls back leaves no entry and none is done without
one. Where the request came from is set per request by `AuditOriginMiddleware`; work outside
a request (Celery, commands) has no origin."""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import models, transaction

from accounts.models import User
from adminpanel.models import AuditEntry
from videochat.errors import ValidationFailed

SYSTEM = "system"

# The longest reason a staff decision (an adjustment, a write-off, a rejection or refund of a
# withdrawal) may give; the reason is shown to people and kept in the audit log.
REASON_MAX = 200


@dataclass(frozen=True)
class AuditOrigin:
    ip_address: str | None
    user_agent: str


_origin: ContextVar[AuditOrigin | None] = ContextVar("audit_origin", default=None)


@contextmanager
def audit_origin(origin: AuditOrigin) -> Iterator[None]:
    """Entries recorded inside come from `origin` (the request being served)."""
    token = _origin.set(origin)
    try:
        yield
    finally:
        _origin.reset(token)


def reason_clean(reason: str, *, message: str) -> str:
    """A staff decision's reason, stripped: 1 to REASON_MAX characters, else ValidationFailed
    with `message` (what is missing, in the decision's words)."""
    reason = reason.strip()
    if not reason or len(reason) > REASON_MAX:
        raise ValidationFailed(
            message, details={"reason": [f"Say why, in 1 to {REASON_MAX} characters."]}
        )
    return reason


def audit_record(
    *,
    actor: User | None,
    action: str,
    target: models.Model,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reason: str = "",
) -> AuditEntry:
    """Append one entry: `actor` (None: the system decided) did `action` (`<thing>.<verb>`)
    to `target`, changing the fields in `before` to those in `after`, for `reason`. Must run
    inside the action's transaction (RuntimeError otherwise)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record runs inside the transaction of the action it records")
    origin = _origin.get()
    return AuditEntry.objects.create(
        actor=actor,
        actor_label=actor.email if actor is not None else SYSTEM,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_repr=str(target)[:200],
        before=audit_values(before or {}),
        after=audit_values(after or {}),
        reason=reason,
        ip_address=origin.ip_address if origin else None,
        user_agent=origin.user_agent if origin else "",
    )


def audit_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` as JSON can keep them: related objects by their name, several as a sorted
    list, dates as ISO text, decimals as text."""
    return {name: _plain(value) for name, value in values.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, models.QuerySet | list | tuple | set):
        return sorted(_plain(item) for item in value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
