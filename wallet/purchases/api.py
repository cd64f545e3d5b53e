"""Buying coins (API.md, Wallet): the package catalog, starting a purchase, and the payment
providers' webhook. Views validate, call one service, serialize."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from videochat.openapi import error_responses
from videochat.views import caller, idempotency_key, raw_body
from wallet.purchases.models import CoinPackage
from wallet.purchases.serializers import (
    AppStorePurchaseSerializer,
    CoinPackageSerializer,
    GooglePlayPurchaseSerializer,
    PaymentWebhookResultSerializer,
    PurchaseCheckoutSerializer,
    PurchaseCreateSerializer,
    SandboxWebhookEventSerializer,
    StorePurchaseSerializer,
)
from wallet.purchases.services import (
    payment_webhook_receive,
    purchase_create,
    purchase_store_credit,
)


class CoinPackagesApi(APIView):
    @extend_schema(
        summary="Coin packages on sale",
        description="Active packages in display order. A plain list: the catalog is short.",
        responses={200: CoinPackageSerializer(many=True), **error_responses(401)},
    )
    def get(self, request: Request) -> Response:
        packages = CoinPackage.objects.filter(is_active=True)
        return Response(CoinPackageSerializer(packages, many=True).data)


class PurchasesApi(APIView):
    @extend_schema(
        summary="Start buying a coin package",
        description="Creates a `pending` purchase and answers with the provider's `checkout`. "
        "The coins arrive when the provider confirms the payment (a `wallet:balance` push "
        "follows). The same `Idempotency-Key` with the same body answers 201 with the same "
        "purchase (its current status); with another package or provider it is 409 "
        "`idempotency_mismatch`. An unknown or inactive package is 400 on `package_id`. "
        "The price is the package's, set by the server: a price in the body is ignored. "
        'With `provider: "stripe"`, `checkout` is `{"url"}`: redirect the browser to that '
        "Stripe Checkout page (no Stripe script from a CDN); the same key answers the same "
        "page. When Stripe cannot be reached the answer is 503 and the purchase stays "
        "pending: retry with the same `Idempotency-Key`.",
        request=PurchaseCreateSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Any string up to 64 characters; retries with it create nothing twice.",
            )
        ],
        responses={201: PurchaseCheckoutSerializer, **error_responses(400, 401, 409, 413)},
    )
    def post(self, request: Request) -> Response:
        serializer = PurchaseCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        started = purchase_create(
            user=caller(request),
            package_id=serializer.validated_data["package_id"],
            provider_name=serializer.validated_data.get("provider"),
            idempotency_key=idempotency_key(request),
        )
        return Response(PurchaseCheckoutSerializer(started).data, status=status.HTTP_201_CREATED)


_STORE_PURCHASE_TEXT = (
    "The app bought a coin package in {store} and sends the store's proof here. The server "
    "verifies it with {store} ({how}), maps the product to the coin package whose "
    "`product_id` it is, and credits the coins once per store transaction (a "
    "`wallet:balance` push follows); the proof sent again answers 201 with the same purchase "
    "and credits nothing. A proof that fails verification, belongs to another account or "
    "names a product not sold here is 400 `invalid_receipt`; a store that can't be asked "
    "now is 503 (send it again later). 404 when this store is not enabled."
)


class _StorePurchaseApi(APIView):
    provider: str
    proof: type[Serializer[dict[str, object]]]

    def post(self, request: Request) -> Response:
        serializer = self.proof(data=request.data)
        serializer.is_valid(raise_exception=True)
        credited = purchase_store_credit(
            user=caller(request), provider_name=self.provider, proof=serializer.validated_data
        )
        return Response(StorePurchaseSerializer(credited).data, status=status.HTTP_201_CREATED)


class AppStorePurchaseApi(_StorePurchaseApi):
    provider, proof = "appstore", AppStorePurchaseSerializer

    @extend_schema(
        summary="Credit an App Store purchase",
        description=_STORE_PURCHASE_TEXT.format(
            store="the App Store",
            how="signature chain to Apple's root certificates, bundle id, environment",
        ),
        request=AppStorePurchaseSerializer,
        responses={201: StorePurchaseSerializer, **error_responses(400, 401, 404, 413, 503)},
    )
    def post(self, request: Request) -> Response:
        return super().post(request)


class GooglePlayPurchaseApi(_StorePurchaseApi):
    provider, proof = "googleplay", GooglePlayPurchaseSerializer

    @extend_schema(
        summary="Credit a Google Play purchase",
        description=_STORE_PURCHASE_TEXT.format(
            store="Google Play", how="the Play Developer API; credited once per order id"
        )
        + " The purchase is consumed at Google once credited.",
        request=GooglePlayPurchaseSerializer,
        responses={201: StorePurchaseSerializer, **error_responses(400, 401, 404, 413, 503)},
    )
    def post(self, request: Request) -> Response:
        return super().post(request)


class PaymentWebhookApi(APIView):
    # Called by the provider, not a user: no token, and DRF views are CSRF-exempt without
    # session authentication. The signature is the authentication.
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Payment provider webhook",
        description="Called by the payment provider, not by apps. The body is verified "
        "byte for byte against the provider's signature header: `X-Signature` for `sandbox` "
        "(hex HMAC-SHA256 of the raw body with the provider's secret; its event is the body "
        "documented here), `Stripe-Signature` for `stripe` (Stripe's own scheme and event "
        "body, signed no longer ago than STRIPE_WEBHOOK_TOLERANCE_SECONDS; "
        "`checkout.session.completed`, `payment_intent.succeeded`, `charge.refunded`, "
        "`charge.dispute.created`, ...: docs/payments.md). "
        "A confirmed payment of the purchase's exact amount and currency credits its coins "
        "once; a failed one marks a pending purchase failed. Every delivery is recorded. "
        "Valid deliveries always answer 200 with what they did, so the provider stops "
        "retrying; a bad signature or a malformed body is 400 and changes nothing (stored once "
        "per distinct body); more of those from one address than THROTTLE_PAYMENT_WEBHOOK_"
        "REFUSED allows are 429 (valid deliveries are never limited); an unknown provider is "
        "404.",
        request=SandboxWebhookEventSerializer,
        parameters=[
            OpenApiParameter(
                "X-Signature",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="`sandbox`: hex HMAC-SHA256 of the raw body, keyed with "
                "PAYMENTS_SANDBOX_SECRET.",
            ),
            OpenApiParameter(
                "Stripe-Signature",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description='`stripe`: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw '
                'body>" keyed with STRIPE_WEBHOOK_SECRET>`, as Stripe sends it.',
            ),
            OpenApiParameter(
                "provider",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description="A configured payment provider: `sandbox`, `stripe`, ...",
            ),
        ],
        responses={200: PaymentWebhookResultSerializer, **error_responses(400, 404, 413, 429)},
    )
    def post(self, request: Request, provider: str) -> Response:
        event = payment_webhook_receive(
            provider_name=provider,
            raw_body=raw_body(request),
            headers=request.headers,
            # DRF's client address: the peer, or the hop NUM_PROXIES back in X-Forwarded-For.
            client=BaseThrottle().get_ident(request),
        )
        return Response(PaymentWebhookResultSerializer({"status": event.outcome}).data)
