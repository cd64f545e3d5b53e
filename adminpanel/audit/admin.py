"""The audit log in the admin (read-only), and the mixin that records the admin's own edits
(add, change, delete) of the models whose changes move money or concern users."""

from collections.abc import Sequence
from typing import Any, TypeVar

from django import forms
from django.contrib import admin
from django.db import models, transaction
from django.db.models import QuerySet
from django.forms.models import model_to_dict
from django.http import HttpRequest

from accounts.models import User
from adminpanel.audit.services import audit_record
from adminpanel.models import AuditEntry

# Never written to the log, changed or not: a user's password, an authenticator's secret.
SECRET_FIELDS = frozenset({"password", "key"})

M = TypeVar("M", bound=models.Model)


class AuditedAdmin(admin.ModelAdmin[M]):
    """Every add, change (the change form or the list's editable columns) and delete in this
    admin writes an audit entry `<model>.add|change|delete` with the fields' values before
    and after, in the admin's transaction. A subclass may split a change into several
    actions (`audit_actions`)."""

    def save_model(
        self, request: HttpRequest, obj: M, form: forms.ModelForm[M], change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        # The model's fields only: a form's other fields (a new password, twice) are not data.
        stored = {field.name for field in obj._meta.get_fields()} - SECRET_FIELDS
        names = [name for name in (form.changed_data if change else form.fields) if name in stored]
        for action, fields in self.audit_actions(obj, form, change, names):
            audit_record(
                actor=_actor(request),
                action=action,
                target=obj,
                before={name: _before(form, name) for name in fields} if change else {},
                after={name: form.cleaned_data.get(name) for name in fields},
            )

    def audit_actions(
        self, obj: M, form: forms.ModelForm[M], change: bool, names: Sequence[str]
    ) -> list[tuple[str, Sequence[str]]]:
        """The entries one save writes: (action, the fields it shows); none when nothing
        changed."""
        if change and not names:
            return []
        return [(f"{obj._meta.model_name}.{'change' if change else 'add'}", names)]

    def delete_model(self, request: HttpRequest, obj: M) -> None:
        # The delete page runs in a transaction of the admin's.
        _record_deletion(request, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[M]) -> None:
        # The "delete selected" action does not run in a transaction of its own.
        with transaction.atomic():
            for obj in queryset:
                _record_deletion(request, obj)
            super().delete_queryset(request, queryset)


def _record_deletion(request: HttpRequest, obj: models.Model) -> None:
    audit_record(
        actor=_actor(request),
        action=f"{obj._meta.model_name}.delete",
        target=obj,
        before=model_to_dict(obj, exclude=list(SECRET_FIELDS)),
    )


def _before(form: forms.ModelForm[Any], name: str) -> Any:
    value = form.initial.get(name)
    field = form.fields[name]
    # The form's initial value of a foreign key is its id; after, it is the object.
    if isinstance(field, forms.ModelChoiceField) and not isinstance(
        field, forms.ModelMultipleChoiceField
    ):
        return field.to_python(value)
    return value


def _actor(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


class ActorFilter(admin.SimpleListFilter):
    title = "actor"
    parameter_name = "actor"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[AuditEntry]
    ) -> list[tuple[str, str]]:
        labels = AuditEntry.objects.order_by("actor_label").values_list("actor_label", flat=True)
        return [(label, label) for label in labels.distinct()]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[AuditEntry]
    ) -> QuerySet[AuditEntry]:
        if self.value():
            return queryset.filter(actor_label=self.value())
        return queryset


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin[AuditEntry]):
    """Read by superusers and by whoever has the `view_auditentry` permission (the finance
    role); nobody adds, edits or deletes an entry, and the database refuses it anyway."""

    list_display = ("created_at", "actor_label", "action", "target", "changes", "ip_address")
    list_filter = (ActorFilter, "action", "target_type", "created_at")
    search_fields = ("actor_label", "action", "=target_id", "target_repr", "reason")
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = (
        "created_at",
        "actor",
        "actor_label",
        "action",
        "target_type",
        "target_id",
        "target_repr",
        "before",
        "after",
        "reason",
        "ip_address",
        "user_agent",
    )
    readonly_fields = fields

    @admin.display(description="Target")
    def target(self, entry: AuditEntry) -> str:
        return f"{entry.target_type} #{entry.target_id}: {entry.target_repr}"

    @admin.display(description="Before → after")
    def changes(self, entry: AuditEntry) -> str:
        names = list(dict.fromkeys([*entry.before, *entry.after]))
        return "; ".join(
            f"{name}: {entry.before.get(name, '')} → {entry.after.get(name, '')}" for name in names
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False
