from django.urls import path

from adminpanel.finance.views import export_csv

app_name = "adminpanel"

urlpatterns = [
    path("exports/<str:kind>.csv", export_csv, name="export"),
]
