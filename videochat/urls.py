from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from adminpanel.finance.views import finance_dashboard
from videochat import client_views
from videochat.errors import api_not_found
from videochat.health import healthz

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("wallet.urls")),
    path("", include("calls.urls")),
    path("", include("gifts.urls")),
    path("", include("chat.urls")),
]

urlpatterns = [
    path("", client_views.index, name="client"),
    path("admin/finance/", admin.site.admin_view(finance_dashboard), name="finance_dashboard"),
    path("admin/", admin.site.urls),
    path("adminpanel/", include("adminpanel.urls")),
    path("healthz", healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/v1/", include(api_v1)),
    # Unknown /api/ paths answer in the API's error shape, also when DEBUG is on.
    re_path(r"^api/", api_not_found),
]

handler400 = "videochat.errors.handler400"
handler403 = "videochat.errors.handler403"
handler404 = "videochat.errors.handler404"
handler500 = "videochat.errors.handler500"
