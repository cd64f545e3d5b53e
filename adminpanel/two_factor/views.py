"""The admin page where staff turn two-factor on (a QR code and the secret, confirmed with a
code) and off (with a code)."""

from base64 import b32encode

import django_otp
import qrcode
import qrcode.image.svg
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString, mark_safe
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from adminpanel.two_factor.forms import CodeForm
from adminpanel.two_factor.selectors import totp_device_confirmed, two_factor_required
from adminpanel.two_factor.services import (
    totp_device_confirm,
    totp_device_disable,
    totp_device_start,
)
from videochat.errors import ApplicationError


def totp_qr_svg(device: TOTPDevice) -> SafeString:
    """The device's otpauth:// URL as an inline SVG QR code (white behind it, so it scans
    in the dark theme too). Nothing is fetched from elsewhere."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathFillImage)
    # qrcode writes the SVG with ElementTree, which escapes every value it holds.
    return mark_safe(image.to_string(encoding="unicode"))  # noqa: S308


def totp_secret_text(device: TOTPDevice) -> str:
    """The secret as authenticator apps take it typed in: base32, in groups of four."""
    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def next_page(request: HttpRequest) -> str:
    """Where to go once two-factor is on: the admin page that sent the user here."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if safe else reverse("admin:index")


def two_factor_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)  # the site lets only staff in
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        action, code = form.cleaned_data["action"], form.cleaned_data["code"]
        try:
            if action == "enable":
                device = totp_device_confirm(user=user, token=code)
                django_otp.login(request, device)  # this session gave the code
                messages.success(request, "Two-factor authentication is on.")
                return redirect(next_page(request))
            totp_device_disable(user=user, token=code)
            messages.success(request, "Two-factor authentication is off.")
            return redirect("admin:two_factor")
        except ApplicationError as refused:
            form.add_error("code", refused.message)

    device = totp_device_confirmed(user)
    pending = None if device is not None else totp_device_start(user=user)
    context = {
        **admin.site.each_context(request),
        "title": "Two-factor authentication",
        "form": form,
        "device": device,
        "required": two_factor_required(user),
        "qr_svg": totp_qr_svg(pending) if pending else "",
        "secret": totp_secret_text(pending) if pending else "",
        "next": request.POST.get("next") or request.GET.get("next") or "",
    }
    return TemplateResponse(request, "adminpanel/two_factor/setup.html", context)
