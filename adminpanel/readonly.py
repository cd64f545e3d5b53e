"""Admin pages that staff read and nobody edits: the ledger, purchases, the call log."""

from typing import Any

from django.http import HttpRequest


class StaffReadOnly:
    """Mixin for a ModelAdmin or inline: staff with the model's view permission (a role,
    adminpanel/roles.py, or superusers) may read it; nobody may add, change or delete,
    superusers included. These records change only through their services: a hand edit
    would break what the ledger proves."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
