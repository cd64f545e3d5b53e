from django.contrib import admin

from wallet.models import CoinPackage


@admin.register(CoinPackage)
class CoinPackageAdmin(admin.ModelAdmin):
    list_display = ["coins", "price", "currency", "is_active", "position"]
    list_editable = ["price", "is_active", "position"]
    list_filter = ["is_active", "currency"]
