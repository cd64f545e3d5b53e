"""Two doors, many devices, beat ticks: every race over one call or one user has exactly one
winner, and the losers get 409."""

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from accounts.presence import presence_socket_alive
from calls.models import Call
from calls.services import (
    call_accept,
    call_end,
    call_expire_ringing,
    call_invite,
    call_reject,
)
from tests.factories import HostFactory, UserFactory
from videochat.errors import ApplicationError
from wallet.ledger.services import wallet_adjust, wallet_of_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def at_once(*actions: Callable[[], Any]) -> list[Any]:
    """Run the actions in threads released together; each result is the return value or the
    error code of the ApplicationError it raised."""
    barrier = threading.Barrier(len(actions))
    results: list[Any] = [None] * len(actions)

    def run(index: int, action: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = action()
        except ApplicationError as exc:
            results[index] = exc.code
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def caller_with_coins() -> Any:
    user = UserFactory.create()
    wallet_adjust(user_id=user.pk, amount=1000, idempotency_key=f"fund-{user.pk}", reason="t")
    return user


def online_host() -> Any:
    host = HostFactory.create(rate_per_minute=60)
    presence_socket_alive(user_id=host.pk, socket_id=f"socket-{host.pk}")
    return host


def test_concurrent_invites_to_one_host_ring_once():
    host = online_host()
    callers = [caller_with_coins() for _ in range(6)]

    results = at_once(*[lambda c=c: call_invite(caller=c, callee_id=host.pk) for c in callers])

    assert (
        sorted(r if isinstance(r, str) else "call" for r in results)
        == ["call"] + ["callee_busy"] * 5
    )
    assert Call.objects.count() == 1


def test_two_hosts_calling_each_other_at_once_make_one_call():
    one, other = online_host(), online_host()
    for host in (one, other):
        wallet_adjust(user_id=host.pk, amount=500, idempotency_key=f"h-{host.pk}", reason="t")

    results = at_once(
        lambda: call_invite(caller=one, callee_id=other.pk),
        lambda: call_invite(caller=other, callee_id=one.pk),
    )

    assert sum(isinstance(r, Call) for r in results) == 1
    assert [r for r in results if isinstance(r, str)] == ["conflict"]
    assert Call.objects.count() == 1


# Repeated: which thread wins varies from run to run.
@pytest.mark.parametrize("attempt", range(5))
def test_accept_against_reject_from_two_devices(attempt):
    host, caller = online_host(), caller_with_coins()
    call = call_invite(caller=caller, callee_id=host.pk)

    results = at_once(
        lambda: call_accept(call_id=call.pk, user=host),
        lambda: call_reject(call_id=call.pk, user=host),
    )

    winners = [r for r in results if isinstance(r, Call)]
    assert len(winners) == 1 and results.count("conflict") == 1
    call.refresh_from_db()
    assert call.status == winners[0].status
    charged = 1000 - wallet_of_user(user_id=caller.pk).balance
    assert charged == (60 if call.status == "active" else 0)


# Repeated: which thread wins varies from run to run.
@pytest.mark.parametrize("attempt", range(5))
def test_accept_against_the_caller_hanging_up(attempt):
    host, caller = online_host(), caller_with_coins()
    call = call_invite(caller=caller, callee_id=host.pk)

    accepted, ended = at_once(
        lambda: call_accept(call_id=call.pk, user=host),
        lambda: call_end(call_id=call.pk, user=caller),
    )

    call.refresh_from_db()
    charged = 1000 - wallet_of_user(user_id=caller.pk).balance
    if accepted == "conflict":
        # The hang-up came first: the call never started.
        assert (call.status, ended.status, charged) == ("missed", "missed", 0)
    else:
        # The accept came first; the hang-up then ended the active call.
        assert (call.status, call.end_reason, charged) == ("ended", "hangup", 60)
        assert call.total_coins == 60


# Repeated: which thread wins varies from run to run.
@pytest.mark.parametrize("attempt", range(5))
def test_accept_against_the_ring_timeout(attempt):
    host, caller = online_host(), caller_with_coins()
    call = call_invite(caller=caller, callee_id=host.pk)
    late = call.created_at + timedelta(seconds=settings.CALL_RING_TIMEOUT_SECONDS + 1)

    accepted, expired = at_once(
        lambda: call_accept(call_id=call.pk, user=host),
        lambda: call_expire_ringing(now=late),
    )

    call.refresh_from_db()
    if accepted == "conflict":
        assert (expired, call.status, call.end_reason) == (1, "missed", "timeout")
    else:
        # Accepted first (or the tick skipped the locked row): the next tick leaves it.
        assert call.status == "active"
        assert expired == 0
        assert call_expire_ringing(now=late) == 0


def test_two_ticks_at_once_expire_a_call_once():
    host, caller = online_host(), caller_with_coins()
    call = call_invite(caller=caller, callee_id=host.pk)
    late = call.created_at + timedelta(seconds=settings.CALL_RING_TIMEOUT_SECONDS + 1)

    assert sorted(at_once(*[lambda: call_expire_ringing(now=late)] * 4)) == [0, 0, 0, 1]


def test_an_invite_authenticated_before_a_ban_committed_rings_nobody():
    # The request was authenticated while the caller was active; the ban commits before the
    # invite takes the users' row locks, which then see the caller inactive.
    host = online_host()
    caller = caller_with_coins()
    type(caller).objects.filter(pk=caller.pk).update(is_active=False)

    with pytest.raises(ApplicationError) as refused:
        call_invite(caller=caller, callee_id=host.pk)

    assert refused.value.code == "not_authenticated"
    assert not Call.objects.exists()
