from collections.abc import Sequence

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from accounts.models import Block, Report, User
from accounts.services import email_normalize, report_close, user_deactivate
from adminpanel.audit.admin import AuditedAdmin
from adminpanel.audit.services import audit_record

# What makes an account staff and what it may do: only superusers change these, and only
# superusers change staff accounts at all (a support member could otherwise make themselves
# a superuser, or reset a superuser's password).
ACCESS_FIELDS = ("is_staff", "is_superuser", "groups", "user_permissions")


class _EmailFormMixin(forms.ModelForm[User]):
    """E-mails are stored lower-case and unique regardless of case, like at registration."""

    def clean_email(self) -> str:
        email = email_normalize(self.cleaned_data["email"])
        taken = User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError("An account with this e-mail already exists.")
        return email


class UserAddForm(_EmailFormMixin, AdminUserCreationForm[User]):
    class Meta:
        model = User
        fields = ("email", "name", "gender", "role")


class UserChangeAdminForm(_EmailFormMixin, UserChangeForm[User]):
    class Meta:
        model = User
        fields = (
            "email",
            "password",
            "name",
            "gender",
            "bio",
            "role",
            "rate_per_minute",
            "lat",
            "lon",
            "is_active",
            "is_staff",
            "is_superuser",
            "groups",
            "user_permissions",
        )


@admin.register(User)
class UserAdmin(AuditedAdmin[User], DjangoUserAdmin[User]):
    """Django's UserAdmin (password hashing, the change-password page), keyed by e-mail.
    Deactivating (unticking "active", or the action) bans through user_deactivate, which
    cuts the user off everywhere; ticking "active" again only lets them log in anew.
    Every change is in the audit log: `user.deactivate` (by user_deactivate),
    `user.reactivate`, `user.access_change` (staff flags, groups, permissions),
    `user.change` (the rest), `user.add`, `user.password_set`."""

    form = UserChangeAdminForm
    add_form = UserAddForm
    list_display = ("email", "name", "role", "gender", "is_active", "is_staff", "created_at")
    list_filter = ("role", "is_active", "gender", "is_staff", "is_superuser")
    search_fields = ("email", "name")
    ordering = ("-created_at",)
    readonly_fields = ("created_at", "last_login")
    actions = ("deactivate",)
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("name", "gender", "bio", "role", "rate_per_minute")}),
        ("Location", {"fields": ("lat", "lon")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("created_at", "last_login")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "email",
                    "name",
                    "gender",
                    "role",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> list[str]:
        fields = [*super().get_readonly_fields(request, obj)]
        if not request.user.is_superuser:
            fields += ACCESS_FIELDS
        return fields

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        if obj is not None and obj.is_staff and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def save_model(
        self, request: HttpRequest, obj: User, form: forms.ModelForm[User], change: bool
    ) -> None:
        banning = change and "is_active" in form.changed_data and not obj.is_active
        if banning:
            obj.is_active = True  # user_deactivate turns it off, and records the ban
        super().save_model(request, obj, form, change)
        if banning:
            user_deactivate(user=obj, by=_staff_member(request))

    def audit_actions(
        self, obj: User, form: forms.ModelForm[User], change: bool, names: Sequence[str]
    ) -> list[tuple[str, Sequence[str]]]:
        if not change:
            return super().audit_actions(obj, form, change, names)
        actions: list[tuple[str, Sequence[str]]] = []
        if "is_active" in names and form.cleaned_data["is_active"]:
            actions.append(("user.reactivate", ["is_active"]))
        access = [name for name in names if name in ACCESS_FIELDS]
        if access:
            actions.append(("user.access_change", access))
        rest = [name for name in names if name not in ACCESS_FIELDS and name != "is_active"]
        if rest:
            actions.append(("user.change", rest))
        return actions

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        """Django's page; a password set (a redirect after POST) is audited, without it."""
        with transaction.atomic():
            response = super().user_change_password(request, id, form_url)
            if request.method == "POST" and response.status_code == 302:
                audit_record(
                    actor=_staff_member(request),
                    action="user.password_set",
                    target=User.objects.get(pk=id),
                )
        return response

    @admin.action(description="Deactivate (ban) selected users", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        # Already inactive users are banned again too: whatever is still open of theirs closes.
        users = list(queryset)
        if not request.user.is_superuser:
            users = [user for user in users if not user.is_staff]
        for user in users:
            user_deactivate(user=user, by=_staff_member(request))
        text = f"{len(users)} user(s) deactivated."
        if len(users) < queryset.count():
            text += " Staff accounts are deactivated by a superuser only."
        self.message_user(request, text, messages.SUCCESS)


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin[Block]):
    list_display = ("blocker", "blocked", "created_at")
    list_select_related = ("blocker", "blocked")
    search_fields = ("blocker__email", "blocked__email")
    autocomplete_fields = ("blocker", "blocked")
    date_hierarchy = "created_at"


@admin.register(Report)
class ReportAdmin(AuditedAdmin[Report]):
    """Moderation queue, for the support role (view and change the reports): what the
    reporter wrote cannot be edited, and reports come only from users. Closing one is in
    the audit log (`report.resolve`, `report.dismiss`, or `report.change` from the form)."""

    list_display = ("id", "reported", "reporter", "reason", "status", "created_at")
    list_filter = ("status", "created_at")
    list_select_related = ("reporter", "reported")
    search_fields = ("reason", "details", "reporter__email", "reported__email")
    # Read-only foreign keys render as links to the users' admin pages.
    readonly_fields = ("reporter", "reported", "reason", "details", "created_at")
    fields = ("reported", "reporter", "reason", "details", "status", "created_at")
    date_hierarchy = "created_at"
    actions = ("mark_resolved", "dismiss")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Mark selected reports resolved", permissions=["change"])
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        self._close(request, queryset, Report.Status.RESOLVED)

    @admin.action(description="Dismiss selected reports", permissions=["change"])
    def dismiss(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        self._close(request, queryset, Report.Status.DISMISSED)

    def _close(self, request: HttpRequest, queryset: QuerySet[Report], status: str) -> None:
        changed = report_close(
            reports=queryset, status=Report.Status(status), by=_staff_member(request)
        )
        skipped = queryset.count() - changed
        text = f"{changed} report(s) marked {status}."
        if skipped:
            text += f" {skipped} already closed report(s) left as they were."
        self.message_user(request, text, messages.SUCCESS if changed else messages.WARNING)


def _staff_member(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None
