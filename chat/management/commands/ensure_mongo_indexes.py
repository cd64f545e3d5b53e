from typing import Any

from django.core.management.base import BaseCommand

from chat.documents import chat_indexes_ensure


class Command(BaseCommand):
    help = "Create the MongoDB indexes of the chat documents (idempotent; part of set-up)."

    def handle(self, *args: Any, **options: Any) -> None:
        chat_indexes_ensure()
        self.stdout.write("MongoDB indexes ensured.")
