"""Gifts endpoints (API.md, Gifts; docs/gifts.md). Views validate, call one service or
selector, serialize; the socket's `gift:sent` calls the same service."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gifts.payloads import gift_send_data
from gifts.selectors import gift_catalog
from gifts.serializers import GiftSendIn, GiftSendSerializer, GiftSerializer
from gifts.services import gift_send
from videochat.openapi import error_responses
from videochat.views import caller, idempotency_key


class GiftsApi(APIView):
    @extend_schema(
        summary="The gift catalog",
        description="Active gifts in the order staff set. A plain list, as API.md shows it: "
        "the catalog is short.",
        responses={200: GiftSerializer(many=True), **error_responses(401)},
    )
    def get(self, request: Request) -> Response:
        return Response(GiftSerializer(gift_catalog(), many=True).data)


class GiftSendApi(APIView):
    @extend_schema(
        summary="Send a gift",
        description="REST twin of the `gift:sent` socket event. The sender pays the gift's "
        "`cost_coins`; the receiver (a host) earns the host share of it, as for call minutes, "
        "and both wallets' histories show it (`gift_sent`, `gift_received`, with the gift "
        "named in `details`). The receiver's sockets get `gift:sent` with this object; with "
        "`call_id` (an active call between the two) both parties' sockets do. The same "
        "`Idempotency-Key` with the same body answers 201 with the first gift and moves "
        "nothing again; with another body it is 409 `idempotency_mismatch`. 402 when the "
        "balance does not cover the gift; 403 `blocked` when either blocked the other, "
        "`permission_denied` when the receiver is not a host; 404 for an unknown receiver, "
        "gift or call; 409 `conflict` when the call is not active; 400 for a gift to oneself.",
        request=GiftSendIn,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Any string up to 64 characters; retries with it send one gift. "
                "The socket's `client_id` is the same key: a gift sent over either door is "
                "found by the other.",
            )
        ],
        responses={
            201: GiftSendSerializer,
            **error_responses(400, 401, 402, 403, 404, 409, 413),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = GiftSendIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        sent = gift_send(
            sender=caller(request),
            idempotency_key=idempotency_key(request),
            **serializer.validated_data,
        )
        return Response(gift_send_data(sent.send), status=status.HTTP_201_CREATED)
