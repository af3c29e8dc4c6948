from django.contrib import admin

from .models import Workshop


@admin.register(Workshop)
class WorkshopAdmin(admin.ModelAdmin):
    list_display = ("title", "instructor", "created_at", "is_published")
    list_filter = ("is_published",)
    search_fields = ("title",)
    raw_id_fields = ("instructor",)
    list_select_related = ("instructor",)
