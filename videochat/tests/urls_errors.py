"""URLs used only by test_errors: views that fail in each way a real view can."""

from django.urls import include, path
from rest_framework.decorators import api_view, permission_classes, throttle_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle, BaseThrottle

from videochat.errors import InsufficientFunds, RateLimited


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


class Refuses(BaseThrottle):
    """Refuses every request, with the wait `?wait=` names (`none`: DRF's "unknown")."""

    def allow_request(self, request, view):  # type: ignore[no-untyped-def]
        self.raw_wait = request.query_params["wait"]
        return False

    def wait(self):  # type: ignore[no-untyped-def]
        return None if self.raw_wait == "none" else float(self.raw_wait)


@api_view(["GET"])
@permission_classes([AllowAny])
@throttle_classes([Refuses])
def refused(request):  # type: ignore[no-untyped-def]
    return Response({})


@api_view(["GET"])
@permission_classes([AllowAny])
def service_limited(request):  # type: ignore[no-untyped-def]
    raise RateLimited("Too many things.", retry_after=float(request.query_params["wait"]))


@api_view(["GET"])
def private(request):  # type: ignore[no-untyped-def]
    return Response({})


urlpatterns = [
    path("api/test/echo", echo),
    path("api/test/domain", domain_error),
    path("api/test/crash", crash),
    path("api/test/throttled", throttled),
    path("api/test/private", private),
    path("api/test/refused", refused),
    path("api/test/service-limited", service_limited),
    path("", include("videochat.urls")),
]
