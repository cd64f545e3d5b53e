"""The wallet app's admin lives in its rooms; Django autodiscovers `wallet.admin` only, so
importing them here registers them."""

from wallet.ledger import admin as ledger_admin
from wallet.payouts import admin as payouts_admin
from wallet.purchases import admin as purchases_admin
from wallet.withdrawals import admin as withdrawals_admin

__all__ = ["ledger_admin", "payouts_admin", "purchases_admin", "withdrawals_admin"]
