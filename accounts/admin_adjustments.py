"""The admin page where a superuser grants a user coins or takes them back: a form (amount,
reason), a confirmation page naming the user, the amount and the reason, then one
`wallet_adjust_by_staff`. The form carries a key made when it was shown, so submitting the
confirmation twice (a double click, a reload) moves the coins once."""

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from accounts.models import User
from adminpanel.audit.services import REASON_MAX
from videochat.errors import InsufficientFunds
from wallet.ledger.adjustments import wallet_adjust_by_staff
from wallet.ledger.services import wallet_of_user


class AdjustmentForm(forms.Form):
    amount = forms.IntegerField(
        help_text="Coins to grant; negative to take back (never below a zero balance)."
    )
    reason = forms.CharField(max_length=REASON_MAX, help_text="Why: kept in the ledger and log.")
    key = forms.CharField(max_length=64, widget=forms.HiddenInput)

    def clean_amount(self) -> int:
        amount: int = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("An adjustment moves coins: not zero.")
        return amount


def wallet_adjust_view(
    model_admin: admin.ModelAdmin[User], request: HttpRequest, user_id: str
) -> HttpResponse:
    if not request.user.is_superuser:
        raise PermissionDenied
    user = get_object_or_404(User, pk=user_id)
    change_url = reverse("admin:accounts_user_change", args=[user.pk])
    if request.method != "POST":
        form = AdjustmentForm(initial={"key": uuid.uuid4().hex})
        return _page(model_admin, request, user, form, confirm=False)
    form = AdjustmentForm(request.POST)
    if not form.is_valid():
        return _page(model_admin, request, user, form, confirm=False)
    if request.POST.get("post") != "yes":
        return _page(model_admin, request, user, form, confirm=True)
    amount, reason = form.cleaned_data["amount"], form.cleaned_data["reason"]
    try:
        result = wallet_adjust_by_staff(
            user=user,
            amount=amount,
            reason=reason,
            idempotency_key=form.cleaned_data["key"],
            staff=request.user if isinstance(request.user, User) else None,
        )
    except InsufficientFunds:
        model_admin.message_user(
            request,
            f"{user.email} has fewer than {-amount} coins: nothing was taken back.",
            messages.ERROR,
        )
        return _page(model_admin, request, user, form, confirm=False)
    if result.replayed:
        model_admin.message_user(
            request, "This adjustment was already made: nothing moved again.", messages.WARNING
        )
    else:
        model_admin.message_user(
            request, f"Adjusted {user.email} by {amount:+d} coins.", messages.SUCCESS
        )
    return HttpResponseRedirect(change_url)


def _page(
    model_admin: admin.ModelAdmin[User],
    request: HttpRequest,
    user: User,
    form: AdjustmentForm,
    *,
    confirm: bool,
) -> TemplateResponse:
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Confirm the adjustment" if confirm else f"Adjust the coins of {user.email}",
        "opts": model_admin.model._meta,
        "original": user,
        "balance": wallet_of_user(user_id=user.pk).balance,
        "form": form,
        "confirm": confirm,
    }
    return TemplateResponse(request, "admin/accounts/user/adjust.html", context)
