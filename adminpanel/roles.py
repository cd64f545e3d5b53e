"""The staff roles: Django groups whose permissions are declared here, once, and brought to
exactly this after every `migrate` (tests and `make run` included). Superusers do the rest:
the catalog and coin packages, staff accounts, roles. docs/staff.md, "Roles"."""

from typing import Any

from django.apps import AppConfig, apps
from django.contrib.auth.models import Group, Permission
from django.db.models import Q

SUPPORT = "support"
FINANCE = "finance"

ROLES: dict[str, frozenset[str]] = {
    # Users and their reports: ban and reactivate, read calls, gifts sent and a reported
    # conversation.
    SUPPORT: frozenset(
        {
            "accounts.view_user",
            "accounts.change_user",
            "accounts.view_report",
            "accounts.change_report",
            "accounts.view_block",
            "calls.view_call",
            "gifts.view_giftsend",
            "adminpanel.read_conversations",
        }
    ),
    # Money: review withdrawals, read the ledger, purchases and what coins were spent on, the
    # dashboard and exports, and the audit log of those decisions.
    FINANCE: frozenset(
        {
            "adminpanel.view_finance",
            "adminpanel.view_auditentry",
            "wallet.view_withdrawal",
            "wallet.change_withdrawal",
            "wallet.view_wallet",
            "wallet.view_transaction",
            "wallet.view_entry",
            "wallet.view_purchase",
            "wallet.view_paymentevent",
            "wallet.view_payoutaccount",
            "wallet.view_coinpackage",
            "gifts.view_gift",
            "gifts.view_giftsend",
            "calls.view_call",
        }
    ),
}


def roles_sync() -> None:
    """Create each role's group and give it exactly its permissions (what was added by hand
    is taken away). Raises LookupError for a permission that does not exist."""
    for name, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(_permissions(codenames))


def _permissions(codenames: frozenset[str]) -> list[Permission]:
    wanted = Q()
    for codename in codenames:
        app_label, _, perm = codename.partition(".")
        wanted |= Q(content_type__app_label=app_label, codename=perm)
    found = list(Permission.objects.filter(wanted).select_related("content_type"))
    missing = codenames - {f"{p.content_type.app_label}.{p.codename}" for p in found}
    if missing:
        raise LookupError(f"Roles name permissions that do not exist: {sorted(missing)}")
    return found


def roles_sync_after_migrate(sender: AppConfig, **kwargs: Any) -> None:
    """post_migrate comes once per app with models, in INSTALLED_APPS order, each time after
    Django made that app's permissions: the roles are synced after the last app's."""
    with_models = [config for config in apps.get_app_configs() if config.models_module]
    if sender is with_models[-1]:
        roles_sync()
