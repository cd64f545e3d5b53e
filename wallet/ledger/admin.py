"""The ledger in the admin: staff read wallets, transactions and entries, and nobody edits
them; coins move only through wallet.ledger.services."""

from django.contrib import admin

from adminpanel.readonly import StaffReadOnly
from wallet.ledger.models import Entry, Transaction, Wallet


class EntryInline(StaffReadOnly, admin.TabularInline[Entry, Transaction]):
    model = Entry
    fields = ("wallet", "type", "amount", "balance_after", "created_at")
    readonly_fields = fields
    extra = 0


@admin.register(Wallet)
class WalletAdmin(StaffReadOnly, admin.ModelAdmin[Wallet]):
    list_display = ["id", "kind", "owner", "shard", "balance", "updated_at"]
    list_filter = ["kind"]
    search_fields = ["owner__email", "owner__name", "=id"]
    list_select_related = ["owner"]
    # A fixed order keeps the (large) changelist on the primary key index.
    ordering = ["id"]
    show_full_result_count = False


@admin.register(Transaction)
class TransactionAdmin(StaffReadOnly, admin.ModelAdmin[Transaction]):
    list_display = ["id", "kind", "reference", "idempotency_key", "created_at"]
    list_filter = ["kind"]
    search_fields = ["=id", "=reference", "=idempotency_key"]
    ordering = ["-id"]
    show_full_result_count = False
    inlines = [EntryInline]


@admin.register(Entry)
class EntryAdmin(StaffReadOnly, admin.ModelAdmin[Entry]):
    list_display = ["id", "wallet", "type", "amount", "balance_after", "transaction", "created_at"]
    list_filter = ["type"]
    search_fields = ["=wallet__id", "=transaction__id", "=wallet__owner__email"]
    list_select_related = ["wallet", "transaction"]
    ordering = ["-id"]
    show_full_result_count = False
