from django.urls import path

from calls import api

urlpatterns = [
    path("calls", api.CallsApi.as_view(), name="calls"),
    path("calls/ice-servers", api.IceServersApi.as_view(), name="call-ice-servers"),
    path("calls/<int:call_id>", api.CallDetailApi.as_view(), name="call-detail"),
    path("calls/<int:call_id>/accept", api.CallAcceptApi.as_view(), name="call-accept"),
    path("calls/<int:call_id>/reject", api.CallRejectApi.as_view(), name="call-reject"),
    path("calls/<int:call_id>/end", api.CallEndApi.as_view(), name="call-end"),
]
