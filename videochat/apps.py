from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class VideochatConfig(AppConfig):
    default = True
    name = "videochat"
    verbose_name = "Videochat"

    def ready(self) -> None:
        # Every installed app's `events` module registers its WebSocket handlers; importing
        # them once here makes a duplicate event type fail at start-up, not mid-traffic.
        autodiscover_modules("events")
