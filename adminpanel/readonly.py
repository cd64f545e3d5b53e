"""Admin pages that staff read and nobody edits: the ledger, purchases, the call log."""

from typing import Any

from django.http import HttpRequest


def is_active_staff(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_staff)


class StaffReadOnly:
    """Mixin for a ModelAdmin or inline: every active staff member may read it without a
    per-model permission (like the report queue); nobody may add, change or delete,
    superusers included. These records change only through their services: a hand edit
    would break what the ledger proves."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_active_staff(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_active_staff(request)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
