"""The raw baseline of bench/chat.py: a bare Channels consumer on the project's channel layer
settings (videochat.settings CHANNEL_LAYERS), with no authentication beyond `?uid=`, no
validation and no storage. It joins `user.<uid>` like the gateway does, relays each
`chat:message` frame to `user.<to>` with one `group_send` and acks the sender.

    uvicorn bench._chat_echo:application   (from the project root)
"""

import json
import os
from typing import Any
from urllib.parse import parse_qs

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "videochat.settings")
django.setup()

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


class EchoConsumer(AsyncJsonWebsocketConsumer):
    uid: int

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.uid = int(query["uid"][0])
        group = f"user.{self.uid}"
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups.append(group)  # left again on disconnect
        await self.accept()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        data = content["data"]
        message = {
            "sender_id": self.uid,
            "receiver_id": data["to"],
            "text": data["text"],
            "client_id": data["client_id"],
        }
        push = json.dumps({"type": "chat:message", "data": {"message": message}})
        await self.channel_layer.group_send(f"user.{data['to']}", {"type": "relay", "text": push})
        if content.get("ref") is not None:
            await self.send_json(
                {"type": "ack", "ref": content["ref"], "data": {"message": message}}
            )

    async def relay(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["text"])


application = ProtocolTypeRouter({"websocket": URLRouter([path("ws/", EchoConsumer.as_asgi())])})
