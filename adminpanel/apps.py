from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AdminpanelConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "adminpanel"
    verbose_name = "Admin panel"

    def ready(self) -> None:
        from adminpanel.roles import roles_sync_after_migrate

        post_migrate.connect(roles_sync_after_migrate, dispatch_uid="adminpanel.roles_sync")
