"""`presence:update` (accounts/events.py) through the real gateway and a real Redis: the
heartbeat sets the user's presence key with its TTL, and socket activity keeps it alive."""

import pytest
import redis
from django.conf import settings

from videochat.gateway.consumer import GatewayConsumer
from videochat.gateway.testing import open_socket, sync_thread_connections_closed  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def store():
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    yield client
    client.close()


def presence_key(user) -> str:
    return f"{settings.REDIS_PREFIX}:presence:{user.pk}"


async def test_connecting_marks_the_user_online(alice, store):
    async with open_socket(alice):
        assert store.get(presence_key(alice)) == "online"
        assert 0 < store.ttl(presence_key(alice)) <= settings.PRESENCE_TTL_SECONDS


async def test_presence_update_sets_the_key_with_its_ttl(alice, store):
    async with open_socket(alice) as socket:
        store.delete(presence_key(alice))
        await socket.send_json_to(
            {
                "type": "presence:update",
                "ref": 1,
                "data": {"status": "away", "lat": 48.85, "lon": 2.35},
            }
        )
        assert await socket.receive_json_from() == {
            "type": "ack",
            "ref": 1,
            "data": {"status": "away", "ttl": settings.PRESENCE_TTL_SECONDS},
        }
        assert store.get(presence_key(alice)) == "away"
        assert settings.PRESENCE_TTL_SECONDS - 2 <= store.ttl(presence_key(alice)) <= 60


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"lat": 90.5, "lon": 0}, "lat"),
        ({"lat": -91, "lon": 0}, "lat"),
        ({"lat": 0, "lon": 180.01}, "lon"),
        ({"lat": "north", "lon": 0}, "lat"),
        ({"lat": 10}, "lon"),
        ({"lon": 10}, "lat"),
        ({"lat": None, "lon": 0}, "lat"),
        ({"status": "busy"}, "status"),
    ],
)
async def test_bad_presence_data_is_a_validation_error_with_details(alice, store, data, field):
    async with open_socket(alice) as socket:
        store.delete(presence_key(alice))
        await socket.send_json_to({"type": "presence:update", "ref": "p", "data": data})
        reply = await socket.receive_json_from()
        assert reply["type"] == "error"
        assert reply["ref"] == "p"
        assert reply["error"]["code"] == "validation_error"
        assert list(reply["error"]["details"]) == [field]
        assert store.get(presence_key(alice)) is None  # nothing refreshed


async def test_edges_of_the_map_are_valid(alice):
    async with open_socket(alice) as socket:
        await socket.send_json_to(
            {"type": "presence:update", "ref": "e", "data": {"lat": -90, "lon": 180}}
        )
        assert (await socket.receive_json_from())["type"] == "ack"


async def test_activity_refreshes_presence_and_keeps_the_announced_status(
    alice, store, monkeypatch
):
    monkeypatch.setattr(GatewayConsumer, "activity_interval_seconds", 0.0)
    async with open_socket(alice) as socket:
        await socket.send_json_to({"type": "presence:update", "ref": 1, "data": {"status": "away"}})
        await socket.receive_json_from()
        store.delete(presence_key(alice))
        # Any frame is activity, even one the gateway refuses.
        await socket.send_json_to({"type": "chat:nonsense", "ref": 2})
        await socket.receive_json_from()
        assert store.get(presence_key(alice)) == "away"
        assert store.ttl(presence_key(alice)) > 0


async def test_activity_refresh_is_throttled(alice, store):
    async with open_socket(alice) as socket:
        store.delete(presence_key(alice))
        await socket.send_json_to({"type": "chat:nonsense", "ref": 1})
        await socket.receive_json_from()
        # Connecting refreshed it moments ago: activity waits for the interval.
        assert store.get(presence_key(alice)) is None
