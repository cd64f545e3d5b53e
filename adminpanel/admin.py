from django.contrib import admin

# The one admin site staff use: name it for them.
admin.site.site_header = "Videochat administration"
admin.site.site_title = "Videochat admin"
admin.site.index_title = "Operations"
# The index with the Finance box (the dashboard and the exports) for staff who may see it.
admin.site.index_template = "adminpanel/index.html"
