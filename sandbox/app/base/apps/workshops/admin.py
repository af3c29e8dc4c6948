from django.contrib import admin

from .models import UserProfile, Workshop


@admin.register(UserProfile)
class UserProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "is_instructor")
    list_filter = ("is_instructor",)
    search_fields = ("user__username", "user__email")
    raw_id_fields = ("user",)
    list_select_related = ("user",)


@admin.register(Workshop)
class WorkshopAdmin(admin.ModelAdmin):
    list_display = ("title", "instructor", "created_at", "is_published")
    list_filter = ("is_published",)
    search_fields = ("title",)
    raw_id_fields = ("instructor",)
    list_select_related = ("instructor",)
