"""Accounts endpoints (API.md, Accounts). Views validate, call a service, serialize."""

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts.discovery import (
    NEARBY_OFFSET_MAX,
    Found,
    presence_nearby_page,
    presence_online_page,
)
from accounts.lockout import login_locked_out
from accounts.matchmaking import match_find
from accounts.models import User
from accounts.presence import presence_statuses
from accounts.selectors import user_get_visible
from accounts.serializers import (
    MatchIn,
    MatchSerializer,
    NearbyIn,
    NearbyPageSerializer,
    NearbyUserSerializer,
    OnlinePageSerializer,
    PresencePageIn,
    ProfileSerializer,
    ProfileUpdateSerializer,
    PublicProfileSerializer,
    RefreshSerializer,
    RegisterSerializer,
    RegistrationSerializer,
    ReportCreateSerializer,
    ReportSerializer,
    TokenObtainSerializer,
    TokenPairSerializer,
)
from accounts.services import (
    auth_logout,
    auth_token_pair_issue,
    auth_token_refresh,
    report_create,
    user_block,
    user_register,
    user_unblock,
    user_update_profile,
)
from accounts.throttles import LoginThrottle, RegisterThrottle, ReportThrottle
from videochat.openapi import error_responses
from videochat.pagination import cursor_decode, cursor_encode
from videochat.views import caller


class RegisterApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [RegisterThrottle]

    @extend_schema(
        summary="Create an account and log in",
        request=RegisterSerializer,
        responses={201: RegistrationSerializer, **error_responses(400, 409, 413, 429)},
    )
    def post(self, request: Request) -> Response:
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_register(**serializer.validated_data)
        tokens = auth_token_pair_issue(user=user)
        return Response(
            RegistrationSerializer({"user": user, **tokens}).data, status=status.HTTP_201_CREATED
        )


@extend_schema_view(
    post=extend_schema(
        summary="Log in with e-mail and password",
        description="Wrong credentials and deactivated accounts get 401 alike. Limited per "
        "client address; LOGIN_LOCKOUT_FAILURES wrong passwords for one account from one "
        "address lock that pair out for LOGIN_LOCKOUT_MINUTES (429 `rate_limited`).",
        request=TokenObtainSerializer,
        responses={200: TokenPairSerializer, **error_responses(400, 401, 413, 429)},
    )
)
class TokenObtainApi(TokenObtainPairView):
    # SimpleJWT's view (public: no authentication, no permission classes; its 401s carry
    # WWW-Authenticate), throttled per client address.
    serializer_class = TokenObtainSerializer
    throttle_classes = [LoginThrottle]

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return super().post(request, *args, **kwargs)
        except AuthenticationFailed:
            # axes marks the request when this account and address are locked out (its
            # middleware only sees Django's request, not DRF's): say so, and for how long.
            if getattr(request, "axes_locked_out", False):
                raise login_locked_out() from None
            raise


class TokenRotateSerializer(TokenRefreshSerializer):
    """SimpleJWT's refresh, with the work done by our service, which also refuses deleted
    users (SimpleJWT answers 500) and lets only one of two concurrent uses of a refresh token
    win. It lives here, not in serializers.py, because it calls a service."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        tokens = auth_token_refresh(refresh=attrs["refresh"])
        return {"access": tokens["access"], "refresh": tokens["refresh"]}


@extend_schema_view(
    post=extend_schema(
        summary="Trade a refresh token for a new pair",
        description="Refresh tokens rotate: the one sent is revoked, use the returned one next "
        "time. A revoked refresh token is answered with 401.",
        request=RefreshSerializer,
        responses={200: TokenPairSerializer, **error_responses(400, 401, 413)},
    )
)
class TokenRefreshApi(TokenRefreshView):
    # Public like every SimpleJWT view.
    serializer_class = TokenRotateSerializer


class LogoutApi(APIView):
    @extend_schema(
        summary="Log out this device",
        description="Revokes the given refresh token, which must be the caller's. Sending an "
        "already revoked one succeeds too.",
        request=RefreshSerializer,
        responses={204: None, **error_responses(400, 401, 413)},
    )
    def post(self, request: Request) -> Response:
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        auth_logout(user=caller(request), refresh=serializer.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    @extend_schema(summary="My profile", responses={200: ProfileSerializer, **error_responses(401)})
    def get(self, request: Request) -> Response:
        return Response(ProfileSerializer(caller(request)).data)

    @extend_schema(
        summary="Change my profile",
        description="Send only the fields to change. `id`, `email`, `role` and `created_at` "
        "are ignored (so a profile can be sent back as received); other unknown fields are "
        "a `validation_error`. The caller's other devices get a `profile:update` event.",
        request=ProfileUpdateSerializer,
        responses={200: ProfileSerializer, **error_responses(400, 401, 413)},
    )
    def patch(self, request: Request) -> Response:
        serializer = ProfileUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_update_profile(user=caller(request), changes=serializer.validated_data)
        return Response(ProfileSerializer(user).data)


class UserDetailApi(APIView):
    @extend_schema(
        summary="Another user's public profile",
        description="404 for unknown and deactivated users, and for users who blocked the caller.",
        responses={200: PublicProfileSerializer, **error_responses(401, 404)},
    )
    def get(self, request: Request, user_id: int) -> Response:
        user = user_get_visible(user_id=user_id, viewer=caller(request))
        return Response(PublicProfileSerializer(user, context=_statuses_of(user)).data)


class UserBlockApi(APIView):
    @extend_schema(
        summary="Block a user",
        description="They can no longer call, message or gift the caller. Blocking twice is fine.",
        request=None,
        responses={204: None, **error_responses(400, 401, 404)},
    )
    def post(self, request: Request, user_id: int) -> Response:
        user_block(blocker=caller(request), blocked_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Unblock a user",
        description="Unblocking someone who is not blocked is fine.",
        responses={204: None, **error_responses(400, 401, 404)},
    )
    def delete(self, request: Request, user_id: int) -> Response:
        user_unblock(blocker=caller(request), blocked_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReportsApi(APIView):
    throttle_classes = [ReportThrottle]

    @extend_schema(
        summary="Report a user to staff",
        request=ReportCreateSerializer,
        responses={201: ReportSerializer, **error_responses(400, 401, 404, 413, 429)},
    )
    def post(self, request: Request) -> Response:
        serializer = ReportCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        report = report_create(
            reporter=caller(request),
            reported_id=data["user_id"],
            reason=data["reason"],
            details=data["details"],
        )
        return Response(ReportSerializer(report).data, status=status.HTTP_201_CREATED)


def _statuses_of(user: User) -> dict[str, Any]:
    """The context PublicProfileSerializer reads the user's presence from."""
    return {"statuses": presence_statuses(user_ids=[user.pk])}


def _page(
    found: list[Found], resume: int | None, serializer: type[PublicProfileSerializer]
) -> Response:
    context = {
        "statuses": {item.user.pk: item.status for item in found},
        "distances": {item.user.pk: item.distance_km for item in found},
    }
    results = serializer([item.user for item in found], many=True, context=context).data
    return Response({"results": results, "next": cursor_encode(resume) if resume else None})


class PresenceOnlineApi(APIView):
    @extend_schema(
        summary="Online users",
        description="Users online or busy right now, newest account first, filtered by `role` "
        "and `gender`; never the caller, nor anyone blocked either way. A page may hold fewer "
        "than `limit` users and still have a `next`.",
        parameters=[PresencePageIn],
        responses={200: OnlinePageSerializer, **error_responses(400, 401)},
    )
    def get(self, request: Request) -> Response:
        query = PresencePageIn(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        found, resume = presence_online_page(
            viewer=caller(request),
            role=data.get("role"),
            gender=data.get("gender"),
            below=cursor_decode(data["cursor"]) if "cursor" in data else None,
            limit=data["limit"],
        )
        return _page(found, resume, PublicProfileSerializer)


class PresenceNearbyApi(APIView):
    @extend_schema(
        summary="Online users near a point",
        description="Users online or busy within `radius_km` (at most 500) of `lat`, `lon`, "
        "nearest first, with `distance_km`. A user's position is their last `presence:update` "
        "with `lat`/`lon`, else their profile's location. Filters and exclusions as for "
        "/presence/online.",
        parameters=[NearbyIn],
        responses={200: NearbyPageSerializer, **error_responses(400, 401)},
    )
    def get(self, request: Request) -> Response:
        query = NearbyIn(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        found, resume = presence_nearby_page(
            viewer=caller(request),
            lat=data["lat"],
            lon=data["lon"],
            radius_km=data["radius_km"],
            role=data.get("role"),
            gender=data.get("gender"),
            offset=(
                cursor_decode(data["cursor"], maximum=NEARBY_OFFSET_MAX) if "cursor" in data else 0
            ),
            limit=data["limit"],
        )
        return _page(found, resume, NearbyUserSerializer)


class MatchApi(APIView):
    @extend_schema(
        summary="Get matched with someone available",
        description="One user who is online and not in a call, not blocked either way, "
        "matching `role` (default: hosts for a user, users for a host) and `gender`. They are "
        "held for the caller for a few seconds (nobody else gets them meanwhile), and the "
        "same caller never gets the same user twice in a row. A new match releases the caller's "
        "previous one: a caller holds one at a time. 404 when nobody is available; 429 over "
        "MATCH_RATE requests per caller.",
        request=MatchIn,
        responses={200: MatchSerializer, **error_responses(400, 401, 404, 413, 429)},
    )
    def post(self, request: Request) -> Response:
        body = MatchIn(data=request.data)
        body.is_valid(raise_exception=True)
        user = match_find(user=caller(request), **body.validated_data)
        return Response(MatchSerializer({"user": user}, context=_statuses_of(user)).data)
