"""Hosts' payout accounts in the admin: support and finance see whether a host can be paid
(and her account id at the provider, to look it up there). Nobody edits them: their status
follows the provider's `account.updated` events (wallet.payouts.services)."""

from django.contrib import admin

from adminpanel.readonly import StaffReadOnly
from wallet.payouts.models import PayoutAccount


@admin.register(PayoutAccount)
class PayoutAccountAdmin(StaffReadOnly, admin.ModelAdmin[PayoutAccount]):
    list_display = ["user", "provider", "account_id", "status", "currency", "updated_at"]
    list_filter = ["status", "provider", "currency"]
    search_fields = ["user__email", "=account_id"]
    list_select_related = ["user"]
