from django.apps import AppConfig
from django.conf import settings


class ChatConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chat"
    verbose_name = "Chat"

    def ready(self) -> None:
        import mongoengine

        # Lazy: pymongo connects on first use, so start-up does not wait for MongoDB.
        mongoengine.connect(
            host=settings.MONGO_URL,
            alias="default",
            tz_aware=True,
            uuidRepresentation="standard",
            serverSelectionTimeoutMS=3000,
            connectTimeoutMS=3000,
        )
