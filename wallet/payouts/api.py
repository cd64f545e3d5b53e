"""Payout endpoints (API.md, Wallet): a host's Stripe Connect onboarding and account status,
and Connect's webhook. Views validate, call one service, serialize."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from videochat.openapi import ErrorSerializer, error_responses
from videochat.views import caller, raw_body
from wallet.payouts.serializers import (
    PayoutAccountSerializer,
    PayoutOnboardingSerializer,
    PayoutWebhookResultSerializer,
)
from wallet.payouts.services import payout_account_onboard, payout_account_status
from wallet.payouts.webhooks import connect_webhook_receive

_UNAVAILABLE = OpenApiResponse(
    ErrorSerializer, description="`service_unavailable`: Stripe cannot be reached; try later."
)


class PayoutOnboardingApi(APIView):
    @extend_schema(
        summary="Payout onboarding link (hosts)",
        description="A new Stripe Connect onboarding link for the host's payout account "
        "(an Express account, created on the first call). Open `url` in a browser; Stripe "
        "sends her back to the web client. Every call makes a new link: links work once and "
        "expire within minutes. Payouts are enabled when Stripe says so (GET "
        "/payouts/account). Not a host: 403.",
        request=None,
        responses={200: PayoutOnboardingSerializer, **error_responses(401, 403), 503: _UNAVAILABLE},
    )
    def post(self, request: Request) -> Response:
        url = payout_account_onboard(user=caller(request))
        return Response(PayoutOnboardingSerializer({"url": url}).data)


class PayoutAccountApi(APIView):
    @extend_schema(
        summary="Payout account status (hosts)",
        description="Whether the host can be paid: withdrawals need `enabled` (else 409 "
        "`payouts_not_enabled`) when payouts go through Stripe. Follows Stripe's "
        "`account.updated` events. Not a host: 403.",
        responses={200: PayoutAccountSerializer, **error_responses(401, 403)},
    )
    def get(self, request: Request) -> Response:
        status = payout_account_status(user=caller(request))
        return Response(PayoutAccountSerializer({"status": status}).data)


class PayoutWebhookApi(APIView):
    # Called by Stripe, not a user: the signature is the authentication.
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Stripe Connect webhook",
        description="Called by Stripe, not by apps: events of the connected accounts, signed "
        "with the Connect endpoint's secret (`Stripe-Signature`, Stripe's scheme and "
        "timestamp tolerance). `account.updated` sets the host's payout status (as Stripe has "
        "it when the event arrives); "
        "`transfer.reversed` (in full) and `payout.failed` make the withdrawal they paid "
        "`failed` and `refunded` (coins back once; a failed payout's transfer is reversed at "
        "Stripe first). Every delivery is recorded; valid ones answer 200 with what they did; "
        "a bad signature or body is 400 and changes nothing; too many of those from one "
        "address are 429; 503 when Stripe could not be asked about the account or a failed "
        "payout (Stripe delivers it again).",
        request=OpenApiTypes.OBJECT,
        parameters=[
            OpenApiParameter(
                "Stripe-Signature",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="Stripe's signature of the raw body (STRIPE_CONNECT_WEBHOOK_SECRET).",
            )
        ],
        responses={
            200: PayoutWebhookResultSerializer,
            **error_responses(400, 413, 429),
            503: _UNAVAILABLE,
        },
    )
    def post(self, request: Request) -> Response:
        event = connect_webhook_receive(
            raw_body=raw_body(request),
            headers=request.headers,
            client=BaseThrottle().get_ident(request),
        )
        return Response(PayoutWebhookResultSerializer({"status": event.outcome}).data)
