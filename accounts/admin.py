from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import Block, Report, User
from accounts.services import email_normalize, report_close, user_deactivate


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
class UserAdmin(DjangoUserAdmin[User]):
    """Django's UserAdmin (password hashing, the change-password page), keyed by e-mail.
    Deactivating (unticking "active", or the action) bans through user_deactivate, which
    cuts the user off everywhere; ticking "active" again only lets them log in anew."""

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

    def save_model(
        self, request: HttpRequest, obj: User, form: forms.ModelForm[User], change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            user_deactivate(user=obj, by=_staff_member(request))

    @admin.action(description="Deactivate (ban) selected users", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        # Already inactive users are banned again too: whatever is still open of theirs closes.
        users = list(queryset)
        for user in users:
            user_deactivate(user=user, by=_staff_member(request))
        self.message_user(request, f"{len(users)} user(s) deactivated.", messages.SUCCESS)


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin[Block]):
    list_display = ("blocker", "blocked", "created_at")
    list_select_related = ("blocker", "blocked")
    search_fields = ("blocker__email", "blocked__email")
    autocomplete_fields = ("blocker", "blocked")
    date_hierarchy = "created_at"


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin[Report]):
    """Moderation queue. Reading and closing reports is every staff member's job, so any
    active staff account may, without a per-model permission; what the reporter wrote
    cannot be edited, and reports come only from users."""

    list_display = ("id", "reported", "reporter", "reason", "status", "created_at")
    list_filter = ("status", "created_at")
    list_select_related = ("reporter", "reported")
    search_fields = ("reason", "details", "reporter__email", "reported__email")
    # Read-only foreign keys render as links to the users' admin pages.
    readonly_fields = ("reporter", "reported", "reason", "details", "created_at")
    fields = ("reported", "reporter", "reason", "details", "status", "created_at")
    date_hierarchy = "created_at"
    actions = ("mark_resolved", "dismiss")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_staff(request) or super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Report | None = None) -> bool:
        return _is_staff(request) or super().has_view_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Report | None = None) -> bool:
        return _is_staff(request) or super().has_change_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Mark selected reports resolved", permissions=["change"])
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        self._close(request, queryset, Report.Status.RESOLVED)

    @admin.action(description="Dismiss selected reports", permissions=["change"])
    def dismiss(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        self._close(request, queryset, Report.Status.DISMISSED)

    def _close(self, request: HttpRequest, queryset: QuerySet[Report], status: str) -> None:
        changed = report_close(reports=queryset, status=Report.Status(status))
        skipped = queryset.count() - changed
        text = f"{changed} report(s) marked {status}."
        if skipped:
            text += f" {skipped} already closed report(s) left as they were."
        self.message_user(request, text, messages.SUCCESS if changed else messages.WARNING)


def _staff_member(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


def _is_staff(request: HttpRequest) -> bool:
    user = request.user
    return user.is_active and user.is_staff
