from django.contrib import admin

from adminpanel.audit.admin import AuditedAdmin
from adminpanel.readonly import StaffReadOnly
from gifts.models import Gift, GiftSend


@admin.register(Gift)
class GiftAdmin(AuditedAdmin[Gift]):
    """The catalog: prices are money, so every add, change and delete is in the audit log."""

    list_display = ["name", "icon", "cost_coins", "is_active", "position"]
    list_editable = ["cost_coins", "is_active", "position"]
    list_filter = ["is_active"]
    search_fields = ["name"]


@admin.register(GiftSend)
class GiftSendAdmin(StaffReadOnly, admin.ModelAdmin[GiftSend]):
    """Gifts sent. Staff with the view permission read them (both roles); nobody edits them:
    a gift's coins are in the ledger, and the row changes only with them (gifts.services)."""

    list_display = (
        "id",
        "created_at",
        "sender",
        "receiver",
        "gift",
        "coins_spent",
        "receiver_coins",
        "call",
        "transfer",
    )
    list_filter = ("gift", "created_at")
    list_select_related = ("sender", "receiver", "gift", "transfer")
    search_fields = ("sender__email", "receiver__email", "gift__name", "idempotency_key")
    date_hierarchy = "created_at"
    show_full_result_count = False  # COUNT(*) on a big log, for every page view
    # The detail page would otherwise render a select of every user, call and transaction.
    raw_id_fields = ("sender", "receiver", "call", "transfer")
