"""The admin site staff use (`admin.site`): Django's, with two-factor at the door."""

from collections.abc import Callable
from functools import update_wrapper
from typing import Any

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from adminpanel.two_factor.forms import StaffLoginForm
from adminpanel.two_factor.selectors import two_factor_satisfied, two_factor_setup_due
from adminpanel.two_factor.views import two_factor_page

View = Callable[..., HttpResponse]


class StaffAdminSite(admin.AdminSite):
    """A staff member with an authenticator gives its code at login; a session without
    that code is treated as logged out until it gives one. With ADMIN_2FA_REQUIRED, a
    superuser or finance member without an authenticator reaches only the set-up page."""

    login_form = StaffLoginForm
    login_template = "adminpanel/two_factor/login.html"

    def has_permission(self, request: HttpRequest) -> bool:
        if not super().has_permission(request):
            return False
        # Two-factor never keeps anyone from logging out.
        if request.path == reverse("admin:logout", current_app=self.name):
            return True
        return two_factor_satisfied(request.user)

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        if two_factor_setup_due(request.user):
            setup = reverse("admin:two_factor", current_app=self.name)
            target = request.GET.get("next")
            return redirect(f"{setup}?{urlencode({'next': target})}" if target else setup)
        return super().login(request, extra_context)

    def get_urls(self) -> list[URLResolver | URLPattern]:
        return [
            path("two-factor/", self.two_factor_view(two_factor_page), name="two_factor"),
            *super().get_urls(),
        ]

    def two_factor_view(self, view: View) -> View:
        """Like admin_view, and also open to staff whose set-up is due (never cached: it
        shows a secret)."""

        def inner(request: HttpRequest) -> HttpResponse:
            if not (self.has_permission(request) or two_factor_setup_due(request.user)):
                login = reverse("admin:login", current_app=self.name)
                return redirect_to_login(request.get_full_path(), login)
            return view(request)

        return update_wrapper(csrf_protect(never_cache(inner)), view)
