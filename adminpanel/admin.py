from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.models import Group
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

# Django autodiscovers `adminpanel.admin` only: importing the audit log's admin registers it.
from adminpanel.audit import admin as audit_admin
from adminpanel.audit.admin import AuditedAdmin

__all__ = ["audit_admin"]

# The one admin site staff use: name it for them.
admin.site.site_header = "Videochat administration"
admin.site.site_title = "Videochat admin"
admin.site.index_title = "Operations"
# The index with the Finance box (the dashboard and the exports) for staff who may see it.
admin.site.index_template = "adminpanel/index.html"


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(AuditedAdmin[Group], DjangoGroupAdmin):
    """Roles are groups: what a group may do is what its staff may do, so every change is in
    the audit log (`group.add|change|delete`). The roles' own groups are set back to
    adminpanel/roles.py at the next migrate."""


admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class AuditedTOTPDeviceAdmin(AuditedAdmin[TOTPDevice], TOTPDeviceAdmin):
    """Staff authenticators (django-otp's admin): a superuser removing a lost one, or
    changing one, is in the audit log (`totpdevice.delete|change`), its secret never."""
