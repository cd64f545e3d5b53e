"""Admin for coin packages (staff edit them), purchases and webhook deliveries (finance and
support read them here). Purchases and deliveries are read-only, superusers included: a
purchase's status, credit and reversal change only through verified provider events and store
proofs (wallet.purchases.services), never by a hand edit that the ledger would not match."""

from django.contrib import admin

from adminpanel.audit.admin import AuditedAdmin
from adminpanel.readonly import StaffReadOnly
from wallet.purchases.models import CoinPackage, PaymentEvent, Purchase


@admin.register(CoinPackage)
class CoinPackageAdmin(AuditedAdmin[CoinPackage]):
    """Prices are money: every add, change and delete is in the audit log."""

    list_display = ["coins", "price", "currency", "product_id", "is_active", "position"]
    list_editable = ["price", "is_active", "position"]
    list_filter = ["is_active", "currency"]


class PaymentEventInline(StaffReadOnly, admin.TabularInline[PaymentEvent, Purchase]):
    model = PaymentEvent
    fields = ["received_at", "event_type", "outcome"]
    readonly_fields = ["received_at", "event_type", "outcome"]
    extra = 0
    show_change_link = True


@admin.register(Purchase)
class PurchaseAdmin(StaffReadOnly, admin.ModelAdmin[Purchase]):
    list_display = [
        "id",
        "user",
        "coins",
        "price",
        "currency",
        "provider",
        "provider_ref",
        "status",
        "reversed_coins",
        "reversal_reason",
        "created_at",
    ]
    list_filter = ["status", "provider", "reversal_reason", "currency"]
    search_fields = ["user__email", "=provider_ref", "=external_id"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = [PaymentEventInline]


@admin.register(PaymentEvent)
class PaymentEventAdmin(StaffReadOnly, admin.ModelAdmin[PaymentEvent]):
    list_display = ["id", "received_at", "provider", "event_type", "provider_ref", "outcome"]
    list_filter = ["outcome", "provider", "event_type"]
    search_fields = ["=provider_ref", "=purchase__id"]
    date_hierarchy = "received_at"
    show_full_result_count = False
