"""Helpers every app's tests share: the API's error shape, admin sessions and the audit log,
coins in and out of wallets, and users put online."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts.models import User
from accounts.presence import Location, presence_socket_alive
from adminpanel.models import AuditEntry
from wallet.ledger.models import (
    EARNING_ENTRY_TYPES,
    Entry,
    EntryType,
    Transaction,
    TransactionKind,
    Wallet,
    WalletKind,
)
from wallet.ledger.services import (
    Leg,
    system_wallet_id,
    wallet_adjust,
    wallet_ensure,
    wallet_of_user,
    wallet_transfer,
)


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is the API's one error shape with this status and code; returns the
    `error` object for further checks."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["details"], dict), error
    return error


def logged_in(user: User, **defaults: Any) -> Client:
    """A test client with `user`'s admin session (`defaults`: its request headers)."""
    client = Client(**defaults)
    client.force_login(user)
    return client


def the_audit_entry(**expected: Any) -> AuditEntry:
    """The one audit entry there is (fails if there are none or several), whose fields
    have the `expected` values."""
    entries = list(AuditEntry.objects.all())
    assert len(entries) == 1, [str(entry) for entry in entries]
    (entry,) = entries
    actual = {name: getattr(entry, name) for name in expected}
    assert actual == expected, actual
    return entry


def fund(user: User, coins: int, key: str = "") -> None:
    """Grant `user` coins (a staff adjustment). The default key names the user and the
    amount, so funding the same user with the same amount twice is a replay: once only."""
    wallet_adjust(
        user_id=user.pk,
        amount=coins,
        idempotency_key=key or f"fund:{user.pk}:{coins}",
        reason="test",
    )


def earn(host: User, coins: int, *, days_ago: float | None = None, key: str = "") -> None:
    """Credit `host` coins she earned (a `call_earning` entry, paid from the adjustments
    wallet to skip the caller), `days_ago` days ago: by default just past the settlement
    window, so they are withdrawable. The default key names the host, the amount and the
    age: the same earning twice is a replay."""
    if days_ago is None:
        days_ago = settings.WITHDRAWAL_SETTLEMENT_DAYS + 1
    key = key or f"earn:{host.pk}:{coins}:{days_ago}"
    earning = wallet_transfer(
        kind=TransactionKind.CALL_CHARGE,
        idempotency_key=key,
        reference=f"test:{key}",
        legs=[
            Leg(wallet_ensure(user_id=host.pk), coins, EntryType.CALL_EARNING),
            Leg(
                system_wallet_id(kind=WalletKind.ADJUSTMENTS, key=key), -coins, EntryType.ADJUSTMENT
            ),
        ],
    )
    earned_at = timezone.now() - timedelta(days=days_ago)
    Transaction.objects.filter(pk=earning.transaction.pk).update(created_at=earned_at)
    Entry.objects.filter(transaction_id=earning.transaction.pk).update(created_at=earned_at)


def settle_earnings(*hosts: User) -> None:
    """Age every earning of `hosts` past the settlement window: all they earned becomes
    withdrawable (for tests about something else)."""
    earned_at = timezone.now() - timedelta(days=settings.WITHDRAWAL_SETTLEMENT_DAYS + 1)
    Entry.objects.filter(wallet__owner__in=hosts, type__in=EARNING_ENTRY_TYPES).update(
        created_at=earned_at
    )


def balance(user: User) -> int:
    """The user's balance (their wallet is made when they have none yet)."""
    return wallet_of_user(user_id=user.pk).balance


def wallet_balance(wallet_id: int) -> int:
    """The balance of any wallet, a system wallet's shard included."""
    return Wallet.objects.get(pk=wallet_id).balance


def online(*users: User, location: Location | None = None) -> None:
    """As if each user had a socket open (what the gateway's connect hooks record), with
    socket id `s<user id>`."""
    for user in users:
        presence_socket_alive(user_id=user.pk, socket_id=f"s{user.pk}", location=location)
