"""Withdrawal endpoints (API.md, Wallet). Views validate, call one service, serialize."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from videochat.openapi import error_responses
from videochat.pagination import NewestFirstPagination
from videochat.views import caller, idempotency_key
from wallet.withdrawals.models import Withdrawal
from wallet.withdrawals.serializers import WithdrawalCreateSerializer, WithdrawalSerializer
from wallet.withdrawals.services import withdrawal_request


class WithdrawalsApi(GenericAPIView[Withdrawal]):
    pagination_class = NewestFirstPagination
    serializer_class = WithdrawalSerializer

    @extend_schema(
        summary="Cash out coins (hosts)",
        description="The coins leave the balance at once (held; a `wallet:balance` push "
        "follows) and the withdrawal is `pending`: after a cooling-off period, small "
        "requests from hosts in good standing are approved automatically and the rest by "
        "staff (a `withdrawal:update` push tells). One withdrawal may be open (`pending` "
        "or `approved`) at a time: another is 409 `conflict` with `details.withdrawal_id`. "
        "Not a host: 403; a host staff have not verified yet: 403 `host_not_verified` "
        "(nothing held). The same `Idempotency-Key` with the same `coins` answers 201 with "
        "the first withdrawal (as it is now); with other `coins` it is 409 "
        "`idempotency_mismatch`. Only earned coins can be withdrawn: more than "
        "`withdrawable` (GET /wallet) is 402 `insufficient_funds` with "
        "`details.withdrawable`, and nothing is held.",
        request=WithdrawalCreateSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Any string up to 64 characters; retries with it hold coins once.",
            )
        ],
        responses={
            201: WithdrawalSerializer,
            **error_responses(400, 401, 402, 403, 409, 413),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = WithdrawalCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        withdrawal = withdrawal_request(
            user=caller(request),
            coins=serializer.validated_data["coins"],
            idempotency_key=idempotency_key(request) or None,
        )
        return Response(WithdrawalSerializer(withdrawal).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="My withdrawals",
        description="The caller's withdrawals, newest first.",
        responses={200: WithdrawalSerializer(many=True), **error_responses(400, 401)},
    )
    def get(self, request: Request) -> Response:
        withdrawals = Withdrawal.objects.filter(user=caller(request))
        page = self.paginate_queryset(withdrawals)
        return self.get_paginated_response(WithdrawalSerializer(page, many=True).data)
