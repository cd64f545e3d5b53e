from django.contrib.admin.apps import AdminConfig


class StaffAdminConfig(AdminConfig):
    """Django's admin app with our site as `admin.site`, so every app's ModelAdmin registers
    on the site that enforces two-factor."""

    default_site = "adminpanel.two_factor.site.StaffAdminSite"
