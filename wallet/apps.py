from django.apps import AppConfig
from django.conf import settings


class WalletConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "wallet"
    verbose_name = "Wallet"

    def ready(self) -> None:
        if not settings.DEBUG:
            # A production process (web, worker, beat, manage.py) fails at start-up, with the
            # missing setting named, rather than on a user's first purchase or payout.
            from wallet.providers_check import providers_check

            providers_check()
