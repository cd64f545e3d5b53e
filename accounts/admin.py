from collections.abc import Sequence
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db import transaction
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from accounts.admin_adjustments import wallet_adjust_view
from accounts.models import Block, Report, Role, User
from accounts.services import (
    email_normalize,
    host_unverify,
    host_verify,
    report_close,
    user_deactivate,
    user_reactivate,
)
from adminpanel.audit.admin import AuditedAdmin
from adminpanel.audit.services import audit_record
from chat.selectors import messages_between

# What makes an account staff and what it may do: only superusers change these, and only
# superusers change staff accounts at all (a support member could otherwise make themselves
# a superuser, or reset a superuser's password).
ACCESS_FIELDS = ("is_staff", "is_superuser", "groups", "user_permissions")
# Messages of a reported conversation shown on the report's page, the most recent.
CONVERSATION_SHOWN = 50


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


class HostVerifiedFilter(admin.SimpleListFilter):
    title = "host verification"
    parameter_name = "verified"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[User]
    ) -> list[tuple[str, str]]:
        return [("yes", "Verified hosts"), ("no", "Unverified hosts")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> QuerySet[User]:
        if self.value() in ("yes", "no"):
            return queryset.filter(role=Role.HOST, host_verified_at__isnull=self.value() == "no")
        return queryset


@admin.register(User)
class UserAdmin(AuditedAdmin[User], DjangoUserAdmin[User]):
    """Django's UserAdmin (password hashing, the change-password page), keyed by e-mail.
    Deactivating (unticking "active", or the Ban action) bans through user_deactivate, which
    cuts the user off everywhere; reactivating (ticking "active", or the Unban action) goes
    through user_reactivate and only lets them log in anew. Verifying a host (actions) lets
    her request withdrawals. Every change is in the audit log: `user.deactivate`,
    `user.reactivate`, `user.verify_host`, `user.unverify_host` (by the services),
    `user.access_change` (staff flags, groups, permissions), `user.change` (the rest),
    `user.add`, `user.password_set`."""

    form = UserChangeAdminForm
    add_form = UserAddForm
    list_display = ("email", "name", "role", "balance", "status", "verified", "created_at")
    list_filter = (
        "role",
        "is_active",
        HostVerifiedFilter,
        "gender",
        "is_staff",
        "is_superuser",
    )
    search_fields = ("email", "name")
    ordering = ("-created_at",)
    readonly_fields = (
        "created_at",
        "last_login",
        "host_verified_at",
        "host_verified_by",
        "coins",
    )
    actions = ("deactivate", "reactivate", "verify_hosts", "unverify_hosts")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("name", "gender", "bio", "role", "rate_per_minute")}),
        ("Host verification", {"fields": ("host_verified_at", "host_verified_by")}),
        ("Wallet", {"fields": ("coins",)}),
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

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        # The balance in the same query as the users (a join), not one query per row.
        return (
            super()
            .get_queryset(request)
            .select_related("host_verified_by")
            .annotate(balance=F("wallet__balance"))
        )

    @admin.display(description="Balance", ordering="balance")
    def balance(self, user: User) -> int | None:
        return getattr(user, "balance", None)

    @admin.display(description="Coins")
    def coins(self, user: User) -> str:
        url = reverse("admin:accounts_user_adjust", args=[user.pk])
        return format_html(
            '{} <a href="{}">Grant or take back coins</a> (superusers)', self.balance(user), url
        )

    def get_urls(self) -> list[URLPattern]:
        # Before Django's own: "<id>/" there would swallow "<id>/adjust/".
        adjust = self.admin_site.admin_view(
            lambda request, object_id: wallet_adjust_view(self, request, object_id)
        )
        return [
            path("<path:object_id>/adjust/", adjust, name="accounts_user_adjust"),
            *super().get_urls(),
        ]

    @admin.display(description="Status", ordering="is_active")
    def status(self, user: User) -> str:
        return "active" if user.is_active else "banned"

    @admin.display(description="Verified host", boolean=True, ordering="host_verified_at")
    def verified(self, user: User) -> bool | None:
        return user.is_verified_host if user.is_host else None

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
        switched = change and "is_active" in form.changed_data
        banning, unbanning = switched and not obj.is_active, switched and obj.is_active
        if switched:
            # The services switch it, and record the ban or its lifting.
            obj.is_active = not obj.is_active
        super().save_model(request, obj, form, change)
        if banning:
            user_deactivate(user=obj, by=_staff_member(request))
        if unbanning:
            user_reactivate(users=User.objects.filter(pk=obj.pk), by=_staff_member(request))
            obj.is_active = True

    def audit_actions(
        self, obj: User, form: forms.ModelForm[User], change: bool, names: Sequence[str]
    ) -> list[tuple[str, Sequence[str]]]:
        if not change:
            return super().audit_actions(obj, form, change, names)
        actions: list[tuple[str, Sequence[str]]] = []
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

    @admin.action(description="Ban (deactivate) selected users", permissions=["change"])
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

    @admin.action(description="Unban (reactivate) selected users", permissions=["change"])
    def reactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        if not request.user.is_superuser:
            queryset = queryset.filter(is_staff=False)
        changed = user_reactivate(users=queryset, by=_staff_member(request))
        self.message_user(request, f"{changed} user(s) reactivated.", messages.SUCCESS)

    @admin.action(description="Verify selected hosts", permissions=["change"])
    def verify_hosts(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        changed = host_verify(users=queryset, by=_staff_member(request))
        self.message_user(request, f"{changed} host(s) verified.", messages.SUCCESS)

    @admin.action(description="Revoke verification of selected hosts", permissions=["change"])
    def unverify_hosts(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        changed = host_unverify(users=queryset, by=_staff_member(request))
        self.message_user(request, f"{changed} host(s) no longer verified.", messages.SUCCESS)


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
    actions = ("mark_resolved", "resolve_and_ban", "dismiss")
    # The reported conversation under the form (staff with read_conversations only).
    change_form_template = "admin/accounts/report/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = dict(extra_context or {})
        report = self.get_object(request, object_id)
        if report is not None and request.user.has_perm("adminpanel.read_conversations"):
            context["conversation"] = messages_between(
                user_ids=(report.reporter_id, report.reported_id), limit=CONVERSATION_SHOWN
            )
        return super().change_view(request, object_id, form_url, context)

    @admin.action(
        description="Resolve selected reports and ban the reported users", permissions=["ban"]
    )
    def resolve_and_ban(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        """Each open report is resolved and its reported user banned (user_deactivate), both
        audited, in one transaction per report. Staff accounts are banned by superusers
        only: their reports are left open."""
        staff = _staff_member(request)
        banned: set[int] = set()
        skipped = 0
        for report in queryset.filter(status=Report.Status.OPEN).select_related("reported"):
            if report.reported.is_staff and not request.user.is_superuser:
                skipped += 1
                continue
            with transaction.atomic():
                report_close(
                    reports=Report.objects.filter(pk=report.pk),
                    status=Report.Status.RESOLVED,
                    by=staff,
                )
                if report.reported_id not in banned:
                    user_deactivate(user=report.reported, by=staff)
                    banned.add(report.reported_id)
        text = f"{len(banned)} user(s) banned."
        if skipped:
            text += f" {skipped} report(s) on staff left open: a superuser bans staff."
        self.message_user(request, text, messages.SUCCESS)

    def has_ban_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perms(["accounts.change_report", "accounts.change_user"])

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
