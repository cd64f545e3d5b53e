"""Calls endpoints (API.md, Calls; docs/calls.md). Views validate, call one service or
selector, serialize; the socket's `call:*` events call the same services."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from calls.ice import ice_servers_for
from calls.models import Call
from calls.selectors import call_get_for, call_list_for
from calls.serializers import CallCreateSerializer, CallSerializer, IceServersSerializer
from calls.services import call_accept, call_end, call_invite, call_reject
from videochat.openapi import error_responses
from videochat.pagination import NewestFirstPagination
from videochat.views import caller


class CallsApi(ListAPIView[Call]):
    serializer_class = CallSerializer
    pagination_class = NewestFirstPagination

    @extend_schema(
        summary="My calls",
        description="Calls the caller made or received, newest first.",
        responses={200: CallSerializer(many=True), **error_responses(400, 401)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Call]:
        return call_list_for(user=caller(self.request))

    @extend_schema(
        summary="Call a host",
        description="Rings every socket of the callee (`call:invite`); the call is `ringing` "
        "until the callee answers, either party ends it, or CALL_RING_TIMEOUT passes "
        "(`missed`). Only hosts can be called. 402 when the caller's balance does not cover "
        "one minute at the host's rate; 409 `callee_offline` (no open socket), "
        "`callee_busy` (in another call) or `conflict` (the caller is in a call); 403 "
        "`blocked` when either blocked the other, `permission_denied` for a non-host; 429 "
        "`rate_limited` over CALL_INVITE_RATE invites per caller.",
        request=CallCreateSerializer,
        responses={
            201: CallSerializer,
            **error_responses(400, 401, 402, 403, 404, 409, 413, 429),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = CallCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        call = call_invite(caller=caller(request), callee_id=serializer.validated_data["callee_id"])
        return Response(CallSerializer(call).data, status=status.HTTP_201_CREATED)


class CallDetailApi(APIView):
    @extend_schema(
        summary="One of my calls",
        description="404 for calls the caller is not a party of.",
        responses={200: CallSerializer, **error_responses(401, 404)},
    )
    def get(self, request: Request, call_id: int) -> Response:
        return Response(CallSerializer(call_get_for(call_id=call_id, user=caller(request))).data)


class CallAcceptApi(APIView):
    @extend_schema(
        summary="Accept a ringing call (callee)",
        description="The call turns `active` and its first minute is charged at once; every "
        "socket of both parties gets `call:answer`. If the caller can't pay that minute the "
        "answer is the call with status `failed` and end reason `insufficient_funds` (both "
        "get `call:end`). 409 when the call no longer rings (answered on another device, "
        "ended, timed out); 403 for the caller.",
        request=None,
        responses={200: CallSerializer, **error_responses(401, 403, 404, 409)},
    )
    def post(self, request: Request, call_id: int) -> Response:
        return Response(CallSerializer(call_accept(call_id=call_id, user=caller(request))).data)


class CallRejectApi(APIView):
    @extend_schema(
        summary="Decline a ringing call (callee)",
        description="Status `rejected`; every socket of both parties gets `call:answer` "
        "with `accepted: false`. 409 when the call no longer rings; 403 for the caller.",
        request=None,
        responses={200: CallSerializer, **error_responses(401, 403, 404, 409)},
    )
    def post(self, request: Request, call_id: int) -> Response:
        return Response(CallSerializer(call_reject(call_id=call_id, user=caller(request))).data)


class CallEndApi(APIView):
    @extend_schema(
        summary="Hang up (either party)",
        description="An active call becomes `ended` (reason `hangup`) with its final "
        "`duration_seconds` and `total_coins`: every minute that began before the end is "
        "paid now if it was not yet (as far as the caller's coins go). "
        "A ringing call ended by the caller becomes "
        "`missed`; by the callee it is a rejection. Every socket of both parties gets "
        "`call:end` (`call:answer` for a rejection). 409 when the call is over already.",
        request=None,
        responses={200: CallSerializer, **error_responses(401, 404, 409)},
    )
    def post(self, request: Request, call_id: int) -> Response:
        return Response(CallSerializer(call_end(call_id=call_id, user=caller(request))).data)


class IceServersApi(APIView):
    @extend_schema(
        summary="ICE servers for WebRTC",
        description="STUN URLs and, when TURN is configured, TURN URLs with credentials in "
        "coturn's shared-secret scheme that expire after `ttl` seconds: fetch a fresh set "
        "for every call. Pass `ice_servers` as RTCConfiguration.iceServers.",
        responses={200: IceServersSerializer, **error_responses(401)},
    )
    def get(self, request: Request) -> Response:
        return Response(IceServersSerializer(ice_servers_for(user_id=caller(request).pk)).data)
