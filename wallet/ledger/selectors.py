"""Reads of the ledger; they never write (the wallet a user may not have yet is
`wallet.ledger.services.wallet_of_user`)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from wallet.ledger.models import (
    CASH_OUT_ENTRY_TYPES,
    CONTRACT_NAME_OF,
    EARNING_CLAWBACK_ENTRY_TYPES,
    EARNING_ENTRY_TYPES,
    WITHDRAWABLE_ENTRY_TYPES,
    Entry,
    EntryType,
    Wallet,
)


def wallet_entries(*, user_id: int, type: EntryType | None = None) -> QuerySet[Entry]:
    """The entries of the user's own wallet, with their transaction (for its reference and
    metadata), in no particular order: the paginator orders and slices. A user without a
    wallet has no entries."""
    # A scalar subquery, not a join: PostgreSQL resolves the wallet id once, then walks the
    # (wallet, -id) index, and the page stays one query with no wallet lookup before it.
    own_wallet = Wallet.objects.filter(owner_id=user_id).values("id")
    entries = Entry.objects.filter(wallet_id=Subquery(own_wallet)).select_related("transaction")
    if type is not None:
        # The types the contract shows under this name (wallet.ledger.serializers).
        entries = entries.filter(
            type__in=[type, *(inner for inner, shown in CONTRACT_NAME_OF.items() if shown == type)]
        )
    return entries.only(
        "id",
        "type",
        "amount",
        "balance_after",
        "created_at",
        "transaction__reference",
        "transaction__metadata",
    )


def wallet_withdrawable(*, user: User, now: datetime | None = None) -> int:
    """The coins `user` may cash out (API.md, Wallet; docs/withdrawals.md, Withdrawable):
    what she earned before the settlement window (WITHDRAWAL_SETTLEMENT_DAYS), less what she
    cashed out or holds for a withdrawal (net of those that came back) and the earnings taken
    back from her, at most her balance: spending draws on bought coins first, so only
    spending beyond them eats into earnings. 0 for users who are not hosts.
    One aggregate over her wallet's earning and withdrawal entries, found through the partial
    index `entry_wallet_withdrawable`; a request reads it with her wallet locked."""
    if not user.is_host:
        return 0
    settled_before = (now or timezone.now()) - timedelta(days=settings.WITHDRAWAL_SETTLEMENT_DAYS)
    amounts = (
        Wallet.objects.filter(owner_id=user.pk, entries__type__in=WITHDRAWABLE_ENTRY_TYPES)
        .annotate(
            earned=_entries_sum(
                Q(entries__type__in=EARNING_ENTRY_TYPES, entries__created_at__lt=settled_before)
            ),
            # Negative: holds leave the wallet, refunds of them come back.
            cashed_out=_entries_sum(Q(entries__type__in=CASH_OUT_ENTRY_TYPES)),
            clawed_back=_entries_sum(Q(entries__type__in=EARNING_CLAWBACK_ENTRY_TYPES)),
        )
        .values_list("balance", "earned", "cashed_out", "clawed_back")
        .first()
    )
    if amounts is None:
        return 0
    balance, earned, cashed_out, clawed_back = amounts
    return max(0, min(balance, earned + cashed_out + clawed_back))


def _entries_sum(entries: Q) -> Coalesce:
    return Coalesce(Sum("entries__amount", filter=entries), 0)
