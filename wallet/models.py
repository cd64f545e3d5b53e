"""The wallet app's models live in its rooms: the ledger, purchases, withdrawals and payouts. Django
loads `wallet.models` only, so importing them here registers them, all in the app `wallet`."""

from wallet.ledger.models import Entry, Transaction, Wallet
from wallet.payouts.models import PayoutAccount
from wallet.purchases.models import CoinPackage, PaymentEvent, Purchase
from wallet.withdrawals.models import Withdrawal

__all__ = [
    "CoinPackage",
    "Entry",
    "PaymentEvent",
    "PayoutAccount",
    "Purchase",
    "Transaction",
    "Wallet",
    "Withdrawal",
]
