"""Wallet endpoints (API.md, Wallet). Views validate, call a service or selector, serialize."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from videochat.openapi import error_responses
from videochat.pagination import NewestFirstPagination
from videochat.views import caller
from wallet.ledger.models import Entry
from wallet.ledger.selectors import wallet_entries, wallet_withdrawable
from wallet.ledger.serializers import EntryFilterSerializer, EntrySerializer, WalletSerializer
from wallet.ledger.services import wallet_of_user


class WalletApi(APIView):
    @extend_schema(
        summary="My coin balance",
        responses={200: WalletSerializer, **error_responses(401)},
    )
    def get(self, request: Request) -> Response:
        user = caller(request)
        wallet = wallet_of_user(user_id=user.pk)
        withdrawable = wallet_withdrawable(user=user)
        return Response(WalletSerializer(wallet, context={"withdrawable": withdrawable}).data)


class WalletTransactionsApi(ListAPIView[Entry]):
    serializer_class = EntrySerializer
    pagination_class = NewestFirstPagination

    @extend_schema(
        summary="My wallet's history",
        description="The caller's entries, newest first: one per movement of their coins. "
        "There is no way to read another wallet. `details` carries facts a client may show "
        "(gift name, call id, ...), each key only when it applies.",
        parameters=[EntryFilterSerializer],
        responses={200: EntrySerializer(many=True), **error_responses(400, 401)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Entry]:
        query = EntryFilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return wallet_entries(
            user_id=caller(self.request).pk, type=query.validated_data.get("type")
        )
