"""Reads of calls."""

from django.db.models import Q, QuerySet

from accounts.models import User
from calls.models import OPEN_STATUSES, Call
from videochat.errors import NotFound


def call_list_for(*, user: User) -> QuerySet[Call]:
    """The calls the user made or received, with both parties loaded; the paginator orders
    them newest first."""
    return Call.objects.filter(Q(caller=user) | Q(callee=user)).select_related("caller", "callee")


def call_get_for(*, call_id: int, user: User) -> Call:
    """One of the user's calls; NotFound for anyone else's, as for unknown ids."""
    call = call_list_for(user=user).filter(pk=call_id).first()
    if call is None:
        raise NotFound("No such call.")
    return call


def call_parties_if_open(*, call_id: int) -> tuple[int, int] | None:
    """(caller id, callee id) while the call rings or is active, else None."""
    return (
        Call.objects.filter(pk=call_id, status__in=OPEN_STATUSES)
        .values_list("caller_id", "callee_id")
        .first()
    )
