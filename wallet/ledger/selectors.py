"""Reads of the ledger; they never write (the wallet a user may not have yet is
`wallet.ledger.services.wallet_of_user`)."""

from django.db.models import QuerySet, Subquery

from wallet.ledger.models import Entry, EntryType, Wallet


def wallet_entries(*, user_id: int, type: EntryType | None = None) -> QuerySet[Entry]:
    """The entries of the user's own wallet, with their transaction (for its reference and
    metadata), in no particular order: the paginator orders and slices. A user without a
    wallet has no entries."""
    # A scalar subquery, not a join: PostgreSQL resolves the wallet id once, then walks the
    # (wallet, -id) index, and the page stays one query with no wallet lookup before it.
    own_wallet = Wallet.objects.filter(owner_id=user_id).values("id")
    entries = Entry.objects.filter(wallet_id=Subquery(own_wallet)).select_related("transaction")
    if type is not None:
        entries = entries.filter(type=type)
    return entries.only(
        "id",
        "type",
        "amount",
        "balance_after",
        "created_at",
        "transaction__reference",
        "transaction__metadata",
    )
