from django.urls import path

from gifts import api

urlpatterns = [
    path("gifts", api.GiftsApi.as_view(), name="gifts"),
    path("gifts/send", api.GiftSendApi.as_view(), name="gift-send"),
]
