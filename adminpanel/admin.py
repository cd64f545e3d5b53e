from django.contrib import admin

# Django autodiscovers `adminpanel.admin` only: importing the audit log's admin registers it.
from adminpanel.audit import admin as audit_admin

__all__ = ["audit_admin"]

# The one admin site staff use: name it for them.
admin.site.site_header = "Videochat administration"
admin.site.site_title = "Videochat admin"
admin.site.index_title = "Operations"
