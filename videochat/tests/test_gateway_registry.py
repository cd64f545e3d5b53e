"""The registry: how apps plug handlers and hooks into the gateway, and how what a handler
returns or raises reaches the client."""

import asyncio
import logging
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework import serializers

from videochat.errors import Conflict, InsufficientFunds
from videochat.gateway import EventContext, blocking, registry
from videochat.gateway.registry import EventRegistry
from videochat.gateway.testing import (  # noqa: F401
    open_socket,
    sync_thread_connections_closed,
    temporary_event,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def nothing(ctx: EventContext, data: dict[str, Any]) -> None:
    return None


def test_registering_a_type_twice_fails_at_start_up():
    fresh = EventRegistry()
    fresh.event("test:twice")(nothing)
    with pytest.raises(ImproperlyConfigured, match=r"already handled by .*nothing"):
        fresh.event("test:twice")(nothing)


def test_an_app_cannot_take_a_type_another_app_registered():
    # accounts/events.py was discovered when Django started.
    assert registry.get("presence:update") is not None
    with pytest.raises(ImproperlyConfigured, match=r"accounts\.events\.presence_update"):
        registry.add("presence:update", nothing)


def test_specs_lists_every_registered_event_in_order():
    fresh = EventRegistry()
    fresh.event("test:first")(nothing)
    fresh.event("test:second")(nothing)
    assert [spec.event_type for spec in fresh.specs()] == ["test:first", "test:second"]
    fresh.remove("test:first")
    assert [spec.event_type for spec in fresh.specs()] == ["test:second"]


@pytest.mark.parametrize("event_type", ["ack", "error", "Chat:Message", "chat:", "chat message"])
def test_types_must_look_like_area_action(event_type):
    with pytest.raises(ImproperlyConfigured, match="area:action"):
        EventRegistry().add(event_type, nothing)


def test_handlers_and_hooks_must_be_async():
    def sync_handler(ctx, data):
        return None

    with pytest.raises(ImproperlyConfigured, match="async"):
        EventRegistry().add("test:sync", sync_handler)  # type: ignore[arg-type]
    with pytest.raises(ImproperlyConfigured, match="async"):
        EventRegistry().add_hook("connect", sync_handler)  # type: ignore[arg-type]


class GreetingIn(serializers.Serializer):
    name = serializers.CharField(max_length=10)
    times = serializers.IntegerField(min_value=1, default=1)


async def test_handler_gets_validated_data_and_the_socket_context(alice):
    seen: dict[str, Any] = {}

    async def greet(ctx: EventContext, data: dict[str, Any]) -> dict[str, Any]:
        seen.update(user=ctx.user, user_id=ctx.user_id, channel=ctx.channel_name, data=data)
        await ctx.send("test:note", {"before": "the ack"})
        return {"greeting": f"hi {data['name']}" * data["times"]}

    with temporary_event("test:greet", greet, data=GreetingIn):
        async with open_socket(alice) as socket:
            await socket.send_json_to({"type": "test:greet", "ref": "g", "data": {"name": "Bo"}})
            assert await socket.receive_json_from() == {
                "type": "test:note",
                "data": {"before": "the ack"},
            }
            assert await socket.receive_json_from() == {
                "type": "ack",
                "ref": "g",
                "data": {"greeting": "hi Bo"},
            }
    assert seen["user"].email == "alice@example.com"
    assert seen["user_id"] == alice.pk
    assert seen["channel"].startswith(f"{settings.REDIS_PREFIX}:ws:")
    assert seen["data"] == {"name": "Bo", "times": 1}


async def test_serializer_errors_are_validation_errors_with_details(alice):
    with temporary_event("test:greet", nothing, data=GreetingIn):
        async with open_socket(alice) as socket:
            await socket.send_json_to(
                {"type": "test:greet", "ref": "g", "data": {"name": "x" * 11, "times": 0}}
            )
            reply = await socket.receive_json_from()
    assert reply["type"] == "error"
    assert reply["error"]["code"] == "validation_error"
    assert set(reply["error"]["details"]) == {"name", "times"}


async def test_application_error_keeps_its_code_message_and_details(alice):
    async def busy(ctx: EventContext, data: dict[str, Any]) -> None:
        raise Conflict("The call was answered elsewhere.", details={"call_id": 5})

    with temporary_event("test:busy", busy):
        async with open_socket(alice) as socket:
            await socket.send_json_to({"type": "test:busy", "ref": "b"})
            assert await socket.receive_json_from() == {
                "type": "error",
                "ref": "b",
                "error": {
                    "code": "conflict",
                    "message": "The call was answered elsewhere.",
                    "details": {"call_id": 5},
                },
            }


async def test_validation_error_raised_in_a_handler(alice):
    async def picky(ctx: EventContext, data: dict[str, Any]) -> None:
        raise serializers.ValidationError({"to": ["You cannot message yourself."]})

    with temporary_event("test:picky", picky):
        async with open_socket(alice) as socket:
            await socket.send_json_to({"type": "test:picky", "ref": 1})
            reply = await socket.receive_json_from()
    assert reply["error"]["code"] == "validation_error"
    assert reply["error"]["details"] == {"to": ["You cannot message yourself."]}


@pytest.mark.parametrize(
    ("raised", "code"),
    [
        (Http404(), "not_found"),
        (PermissionDenied(), "permission_denied"),
        (drf_exceptions.NotFound(), "not_found"),
        (InsufficientFunds("Top up first."), "insufficient_funds"),
    ],
)
async def test_errors_map_to_the_codes_the_rest_api_uses(alice, raised, code):
    async def refuse(ctx: EventContext, data: dict[str, Any]) -> None:
        raise raised

    with temporary_event("test:refuse", refuse):
        async with open_socket(alice) as socket:
            await socket.send_json_to({"type": "test:refuse", "ref": 1})
            assert (await socket.receive_json_from())["error"]["code"] == code


async def test_crashing_handler_is_a_server_error_and_the_socket_lives(alice, caplog):
    async def crash(ctx: EventContext, data: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    with temporary_event("test:crash", crash), caplog.at_level(logging.ERROR):
        async with open_socket(alice) as socket:
            await socket.send_json_to({"type": "test:crash", "ref": "c"})
            reply = await socket.receive_json_from()
            assert reply["type"] == "error"
            assert reply["ref"] == "c"
            assert reply["error"]["code"] == "server_error"
            assert "boom" not in reply["error"]["message"]  # no internals leak
            await socket.send_json_to({"type": "presence:update", "ref": "next"})
            assert (await socket.receive_json_from())["type"] == "ack"
    assert "boom" in caplog.text  # logged with its traceback


@pytest.mark.slow
async def test_a_store_outage_is_service_unavailable_and_the_socket_lives(alice, caplog):
    def ping_a_redis_that_is_not_there() -> None:
        redis.Redis(port=1, socket_connect_timeout=0.5).ping()

    async def outage(ctx: EventContext, data: dict[str, Any]) -> None:
        await blocking(ping_a_redis_that_is_not_there)()

    with temporary_event("test:outage", outage):
        async with open_socket(alice) as socket:
            await socket.send_json_to({"type": "test:outage", "ref": 1})
            error = (await socket.receive_json_from(timeout=10))["error"]
            assert error["code"] == "service_unavailable"
            assert error["details"]["retry_after"] >= 1
            await socket.send_json_to({"type": "presence:update", "ref": "next"})
            assert (await socket.receive_json_from())["type"] == "ack"
    assert "Traceback" not in caplog.text  # an outage is no bug


async def test_handler_returning_something_else_than_a_dict_is_a_server_error(alice):
    async def wrong(ctx: EventContext, data: dict[str, Any]) -> Any:
        return ["not", "a", "dict"]

    with temporary_event("test:wrong", wrong):
        async with open_socket(alice) as socket:
            await socket.send_json_to({"type": "test:wrong", "ref": 1})
            assert (await socket.receive_json_from())["error"]["code"] == "server_error"


@pytest.fixture
def hook_calls():
    """A connect and a disconnect hook that record the user, removed afterwards."""
    calls: list[tuple[str, int]] = []

    async def connected(ctx: EventContext) -> None:
        calls.append(("connect", ctx.user_id))

    async def disconnected(ctx: EventContext) -> None:
        calls.append(("disconnect", ctx.user_id))

    registry.add_hook("connect", connected)
    registry.add_hook("disconnect", disconnected)
    yield calls
    registry.remove_hook("connect", connected)
    registry.remove_hook("disconnect", disconnected)


async def test_connect_and_disconnect_hooks_run(alice, hook_calls):
    async with open_socket(alice):
        assert hook_calls == [("connect", alice.pk)]
    assert hook_calls == [("connect", alice.pk), ("disconnect", alice.pk)]


async def test_failing_hook_costs_neither_the_socket_nor_the_other_hooks(alice):
    ran: list[str] = []

    async def broken(ctx: EventContext) -> None:
        raise RuntimeError("hook broke")

    async def after(ctx: EventContext) -> None:
        ran.append("after")

    registry.add_hook("connect", broken)
    registry.add_hook("connect", after)
    try:
        async with open_socket(alice) as socket:
            await socket.send_json_to({"type": "presence:update", "ref": 1})
            assert (await socket.receive_json_from())["type"] == "ack"
    finally:
        registry.remove_hook("connect", broken)
        registry.remove_hook("connect", after)
    assert ran == ["after"]


async def test_handlers_of_one_socket_run_in_order(alice):
    async def slow(ctx: EventContext, data: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(data["wait"])
        return {"n": data["n"]}

    with temporary_event("test:slow", slow):
        async with open_socket(alice) as socket:
            await socket.send_json_to(
                {"type": "test:slow", "ref": 1, "data": {"wait": 0.2, "n": 1}}
            )
            await socket.send_json_to({"type": "test:slow", "ref": 2, "data": {"wait": 0, "n": 2}})
            assert [(await socket.receive_json_from())["ref"] for _ in range(2)] == [1, 2]
