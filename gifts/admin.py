from django.contrib import admin

from gifts.models import Gift


@admin.register(Gift)
class GiftAdmin(admin.ModelAdmin):
    list_display = ["name", "icon", "cost_coins", "is_active", "position"]
    list_editable = ["cost_coins", "is_active", "position"]
    list_filter = ["is_active"]
    search_fields = ["name"]
