from django.urls import path

from accounts import api

urlpatterns = [
    path("auth/register", api.RegisterApi.as_view(), name="auth-register"),
    path("auth/token", api.TokenObtainApi.as_view(), name="auth-token"),
    path("auth/token/refresh", api.TokenRefreshApi.as_view(), name="auth-token-refresh"),
    path("auth/logout", api.LogoutApi.as_view(), name="auth-logout"),
    path("me", api.MeApi.as_view(), name="me"),
    path("users/<int:user_id>", api.UserDetailApi.as_view(), name="user-detail"),
    path("users/<int:user_id>/block", api.UserBlockApi.as_view(), name="user-block"),
    path("reports", api.ReportsApi.as_view(), name="reports"),
    path("presence/online", api.PresenceOnlineApi.as_view(), name="presence-online"),
    path("presence/nearby", api.PresenceNearbyApi.as_view(), name="presence-nearby"),
    path("match", api.MatchApi.as_view(), name="match"),
]
