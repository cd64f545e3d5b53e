"""Staff's side of withdrawals: review the queue, approve, reject with a refund, and settle
payouts that failed (refund them, or send them back to the sweep). The actions that move
money (approve, reject, refund, retry payout) show a confirmation page first.
Every change goes through the services in `wallet.withdrawals.services`; nothing here edits a
withdrawal or a balance directly."""

from collections.abc import Callable
from datetime import datetime

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from accounts.models import User
from adminpanel.audit.services import REASON_MAX
from videochat.errors import ApplicationError
from wallet.withdrawals.models import Withdrawal
from wallet.withdrawals.services import (
    withdrawal_approve,
    withdrawal_payout_retry,
    withdrawal_refund,
    withdrawal_reject,
    withdrawal_reviewable_at,
)


class WithdrawalActionForm(helpers.ActionForm):
    # Shown beside the action menu: the reason a rejection (or a refund) gives the host. No
    # max_length here: the admin would then drop an overlong one as "no action selected";
    # the action says what is wrong instead.
    reason = forms.CharField(
        required=False,
        label="Reason for the host",
        widget=forms.TextInput(attrs={"size": 40}),
    )


class PayoutFailingFilter(admin.SimpleListFilter):
    title = "payout"
    parameter_name = "payout"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Withdrawal]
    ) -> list[tuple[str, str]]:
        # Those that gave up are the status `failed`.
        return [("failing", "Failing (the sweep retries)")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Withdrawal]
    ) -> QuerySet[Withdrawal]:
        if self.value() == "failing":
            return queryset.filter(status=Withdrawal.Status.APPROVED).exclude(payout_error="")
        return queryset


@admin.register(Withdrawal)
class WithdrawalAdmin(admin.ModelAdmin[Withdrawal]):
    """Read-only rows with review actions. Reviewing moves money, so it takes the model's
    change permission (superusers, or the finance role), not merely a staff account."""

    list_display = (
        "id",
        "user_email",
        "coins",
        "amount",
        "currency",
        "status",
        "auto_approved",
        "review_note",
        "first_approved_by",
        "created_at",
        "reviewed_at",
        "paid_at",
        "payout_attempts",
    )
    list_filter = ("status", "auto_approved", PayoutFailingFilter, "created_at")
    list_select_related = ("user",)
    search_fields = ("user__email",)
    date_hierarchy = "created_at"
    fieldsets = (
        (None, {"fields": ("user", "coins", "status", "created_at")}),
        (
            "Review",
            {
                "fields": (
                    "reviewable_at",
                    "auto_approved",
                    "review_note",
                    "first_approved_by",
                    "first_approved_at",
                    "reviewed_by",
                    "reviewed_at",
                    "rejection_reason",
                )
            },
        ),
        (
            "Payout",
            {
                "fields": (
                    "amount",
                    "currency",
                    "payout_attempts",
                    "payout_error",
                    "payout_ref",
                    "paid_at",
                    "failed_at",
                )
            },
        ),
        ("Refund", {"fields": ("refunded_by", "refunded_at", "refund_reason")}),
        ("Ledger", {"fields": ("hold_wallet", "hold", "settlement")}),
    )
    readonly_fields = ("reviewable_at",)
    action_form = WithdrawalActionForm
    actions = ("approve_selected", "reject_selected", "refund_selected", "retry_payout")

    @admin.display(description="User", ordering="user__email")
    def user_email(self, withdrawal: Withdrawal) -> str:
        return withdrawal.user.email

    @admin.display(description="Approvable from (cooling-off over)")
    def reviewable_at(self, withdrawal: Withdrawal) -> datetime:
        return withdrawal_reviewable_at(withdrawal)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Withdrawal | None = None) -> bool:
        return False

    # No edit form: every field is history or money. Viewing needs the view (or change)
    # permission as usual; the actions check `review` below.
    def has_change_permission(self, request: HttpRequest, obj: Withdrawal | None = None) -> bool:
        return False

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("wallet.change_withdrawal")

    @admin.action(description="Approve selected withdrawals", permissions=["review"])
    def approve_selected(
        self, request: HttpRequest, queryset: QuerySet[Withdrawal]
    ) -> TemplateResponse | None:
        """First a confirmation page (the withdrawals, what approving does), then the
        approvals; one that needs two gets its first, or its second from another member of
        staff. A second submit finds them approved: each is approved once."""
        if request.POST.get("post") != "yes":
            return self._confirmation(request, queryset, "approve", "Approve withdrawals")
        staff = _staff(request)
        waiting: list[str] = []

        def approve(pk: int) -> None:
            if (
                withdrawal_approve(withdrawal_id=pk, staff=staff).status
                == Withdrawal.Status.PENDING
            ):
                waiting.append(f"#{pk}")

        self._apply(request, queryset, "Approved (or given a first approval)", approve)
        if waiting:
            self.message_user(
                request,
                f"First approval recorded for {', '.join(waiting)}: another member of staff "
                "must approve before it is paid.",
                messages.WARNING,
            )
        return None

    @admin.action(description="Reject selected withdrawals (refund)", permissions=["review"])
    def reject_selected(
        self, request: HttpRequest, queryset: QuerySet[Withdrawal]
    ) -> TemplateResponse | None:
        """First a confirmation page (the withdrawals, a reason), then the rejections and
        their refunds. A second submit finds them rejected: coins move once."""
        return self._decide_with_reason(
            request,
            queryset,
            step="reject",
            title="Reject withdrawals",
            what="a rejection reason",
            done="Rejected and refunded",
            decide=withdrawal_reject,
        )

    @admin.action(description="Refund selected failed withdrawals", permissions=["review"])
    def refund_selected(
        self, request: HttpRequest, queryset: QuerySet[Withdrawal]
    ) -> TemplateResponse | None:
        """First a confirmation page (the withdrawals, their payout errors, a reason), then
        the refunds. A second submit (a double click) finds them refunded: coins move once."""
        return self._decide_with_reason(
            request,
            queryset,
            step="refund",
            title="Refund failed withdrawals",
            what="a reason",
            done="Refunded",
            decide=withdrawal_refund,
        )

    def _decide_with_reason(
        self,
        request: HttpRequest,
        queryset: QuerySet[Withdrawal],
        *,
        step: str,
        title: str,
        what: str,
        done: str,
        decide: Callable[..., Withdrawal],
    ) -> TemplateResponse | None:
        """A decision that gives the host a reason: the confirmation page, then `decide`
        (withdrawal_reject or withdrawal_refund) for each selected withdrawal."""
        if request.POST.get("post") != "yes":
            return self._confirmation(request, queryset, step, title, with_reason=True)
        reason = self._reason(request, what, f"nothing was {done.split()[0].lower()}")
        if reason is None:
            return None
        staff = _staff(request)
        self._apply(
            request,
            queryset,
            done,
            lambda pk: decide(withdrawal_id=pk, staff=staff, reason=reason),
        )
        return None

    def _confirmation(
        self,
        request: HttpRequest,
        queryset: QuerySet[Withdrawal],
        step: str,
        title: str,
        *,
        with_reason: bool = False,
    ) -> TemplateResponse:
        """The page naming what the action will do to the selected withdrawals (the text of
        `<step>_confirmation.html`); its form posts the action again with post=yes. Nothing
        changes until then."""
        withdrawals = list(queryset.select_related("user", "first_approved_by").order_by("pk"))
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "withdrawals": withdrawals,
            "total_coins": sum(withdrawal.coins for withdrawal in withdrawals),
            # Posted again, confirmed: the action that asked for this page.
            "action": request.POST.get("action", ""),
            "submit": title.split()[0],
            "reason": request.POST.get("reason", ""),
            "reason_max": REASON_MAX if with_reason else None,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "two_approvals_above": settings.WITHDRAWAL_TWO_APPROVALS_ABOVE_COINS,
        }
        return TemplateResponse(
            request, f"admin/wallet/withdrawal/{step}_confirmation.html", context
        )

    @admin.action(description="Retry payout of selected failed withdrawals", permissions=["review"])
    def retry_payout(
        self, request: HttpRequest, queryset: QuerySet[Withdrawal]
    ) -> TemplateResponse | None:
        """First a confirmation page (the withdrawals, their payout errors), then back to the
        payout sweep, which sends money: nothing changes until confirmed."""
        if request.POST.get("post") != "yes":
            return self._confirmation(request, queryset, "retry", "Retry payouts")
        staff = _staff(request)
        self._apply(
            request,
            queryset,
            "Sent back to the payout sweep",
            lambda pk: withdrawal_payout_retry(withdrawal_id=pk, staff=staff),
        )
        return None

    def _reason(self, request: HttpRequest, what: str, nothing: str) -> str | None:
        """The reason typed for the host, or None (and an error message) when it is empty
        or too long; the services check it again."""
        reason = request.POST.get("reason", "").strip()
        if reason and len(reason) <= REASON_MAX:
            return reason
        self.message_user(
            request,
            f"Write {what} (up to {REASON_MAX} characters) for the host; {nothing}.",
            messages.ERROR,
        )
        return None

    def _apply(
        self,
        request: HttpRequest,
        queryset: QuerySet[Withdrawal],
        done: str,
        change: Callable[[int], object],
    ) -> None:
        """Run `change` on each selected withdrawal (each in its own transaction, oldest
        first) and say how many changed and which were skipped, and why."""
        changed = 0
        skipped: list[str] = []
        for pk in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                change(pk)
            except ApplicationError as refused:
                skipped.append(f"#{pk} ({refused.message})")
            else:
                changed += 1
        text = f"{done}: {changed} withdrawal(s)."
        if skipped:
            text += f" Skipped {len(skipped)}: {'; '.join(skipped)}"
        level = messages.WARNING if skipped else messages.SUCCESS
        self.message_user(request, text, level)


def _staff(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User), "the admin only serves logged-in users"
    return user
