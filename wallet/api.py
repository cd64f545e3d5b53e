"""Wallet endpoints (API.md, Wallet). Views validate, call a service or selector, serialize."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from videochat.openapi import error_responses
from videochat.views import caller
from wallet.selectors import wallet_of_user
from wallet.serializers import WalletSerializer


class WalletApi(APIView):
    @extend_schema(
        summary="My coin balance",
        responses={200: WalletSerializer, **error_responses(401)},
    )
    def get(self, request: Request) -> Response:
        return Response(WalletSerializer(wallet_of_user(user_id=caller(request).pk)).data)
