"""The ledger in the admin: staff read wallets, transactions and entries, and nobody edits
them; coins move only through wallet.ledger.services. Superusers may write off what users
owe after a refund or chargeback (wallet.ledger.debts), with a reason, after a confirmation
page."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from accounts.models import User
from adminpanel.audit.services import REASON_MAX
from adminpanel.readonly import StaffReadOnly
from wallet.ledger.debts import debt_write_off
from wallet.ledger.models import Entry, Transaction, Wallet


class OwesFilter(admin.SimpleListFilter):
    title = "debt"
    parameter_name = "owes"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Wallet]
    ) -> list[tuple[str, str]]:
        return [("yes", "Owes coins (restricted)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Wallet]) -> QuerySet[Wallet]:
        if self.value() == "yes":
            return queryset.filter(owed__gt=0)
        return queryset


class EntryInline(StaffReadOnly, admin.TabularInline[Entry, Transaction]):
    model = Entry
    fields = ("wallet", "type", "amount", "balance_after", "created_at")
    readonly_fields = fields
    extra = 0


@admin.register(Wallet)
class WalletAdmin(StaffReadOnly, admin.ModelAdmin[Wallet]):
    list_display = ["id", "kind", "owner", "shard", "balance", "owed", "updated_at"]
    list_filter = ["kind", OwesFilter]
    search_fields = ["owner__email", "owner__name", "=id"]
    list_select_related = ["owner"]
    # A fixed order keeps the (large) changelist on the primary key index.
    ordering = ["id"]
    show_full_result_count = False
    actions = ["write_off_debts"]

    def has_write_off_permission(self, request: HttpRequest) -> bool:
        # The platform takes the loss: as for coin adjustments, superusers only.
        return request.user.is_superuser

    @admin.action(description="Write off what the selected users owe", permissions=["write_off"])
    def write_off_debts(
        self, request: HttpRequest, queryset: QuerySet[Wallet]
    ) -> TemplateResponse | None:
        """First a confirmation page (the users, what each owes, a reason), then each debt
        written off and audited. A second submit finds nothing owed: written off once."""
        wallets = list(queryset.filter(owed__gt=0).select_related("owner").order_by("pk"))
        reason = request.POST.get("reason", "").strip()
        if request.POST.get("post") != "yes" or not reason or len(reason) > REASON_MAX:
            if request.POST.get("post") == "yes":
                self.message_user(
                    request, f"Write a reason (up to {REASON_MAX} characters).", messages.ERROR
                )
            context = {
                **self.admin_site.each_context(request),
                "title": "Write off debts",
                "opts": self.model._meta,
                "wallets": wallets,
                "total_owed": sum(wallet.owed for wallet in wallets),
                "action": request.POST.get("action", ""),
                "reason": reason,
                "reason_max": REASON_MAX,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(
                request, "admin/wallet/wallet/write_off_confirmation.html", context
            )
        staff = request.user
        assert isinstance(staff, User), "the admin only serves logged-in users"
        written = [
            debt_write_off(user=wallet.owner, reason=reason, by=staff)
            for wallet in wallets
            if wallet.owner is not None
        ]
        self.message_user(
            request,
            f"Wrote off {sum(written)} coins owed by {sum(1 for coins in written if coins)} "
            "user(s).",
            messages.SUCCESS,
        )
        return None


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
