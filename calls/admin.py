from django.contrib import admin

from adminpanel.readonly import StaffReadOnly
from calls.models import Call


@admin.register(Call)
class CallAdmin(StaffReadOnly, admin.ModelAdmin[Call]):
    """The call log. Staff with the view permission read it (both roles); nobody edits it:
    calls change only through calls.services, and their coins are in the ledger."""

    list_display = (
        "id",
        "caller",
        "callee",
        "status",
        "end_reason",
        "rate_per_minute",
        "created_at",
        "started_at",
        "ended_at",
        "duration",
        "periods_charged",
        "total_coins",
    )
    list_filter = ("status", "end_reason", "created_at")
    list_select_related = ("caller", "callee")
    search_fields = ("caller__email", "callee__email")
    date_hierarchy = "created_at"
    show_full_result_count = False  # COUNT(*) on a big log, for every page view

    @admin.display(description="Duration (s)")
    def duration(self, call: Call) -> int:
        return call.duration_seconds
