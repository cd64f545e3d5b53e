"""URLs used only by test_errors: views that fail in each way a real view can."""

from django.urls import include, path
from rest_framework.decorators import api_view, permission_classes, throttle_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle

from videochat.errors import InsufficientFunds


class OncePerMinute(AnonRateThrottle):
    rate = "1/min"


@api_view(["POST"])
@permission_classes([AllowAny])
def echo(request):  # type: ignore[no-untyped-def]
    return Response({"got": request.data})


@api_view(["GET"])
@permission_classes([AllowAny])
def domain_error(request):  # type: ignore[no-untyped-def]
    raise InsufficientFunds("You need 60 coins.", details={"needed": 60})


@api_view(["GET"])
@permission_classes([AllowAny])
def crash(request):  # type: ignore[no-untyped-def]
    raise RuntimeError("boom")


@api_view(["GET"])
@permission_classes([AllowAny])
@throttle_classes([OncePerMinute])
def throttled(request):  # type: ignore[no-untyped-def]
    return Response({})


@api_view(["GET"])
def private(request):  # type: ignore[no-untyped-def]
    return Response({})


urlpatterns = [
    path("api/test/echo", echo),
    path("api/test/domain", domain_error),
    path("api/test/crash", crash),
    path("api/test/throttled", throttled),
    path("api/test/private", private),
    path("", include("videochat.urls")),
]
