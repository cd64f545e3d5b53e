"""Reads of the ledger."""

from wallet.models import Wallet
from wallet.services import wallet_ensure


def wallet_of_user(*, user_id: int) -> Wallet:
    """The user's wallet (created on first need for users made outside registration)."""
    return Wallet.objects.get(pk=wallet_ensure(user_id=user_id))
