from django.contrib import admin

from .models import ApiToken, UserProfile


@admin.register(UserProfile)
class UserProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "is_teacher", "slack_id")
    list_filter = ("is_teacher",)
    search_fields = ("user__username", "user__email", "slack_id")
    raw_id_fields = ("user",)
    list_select_related = ("user",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "created")
    raw_id_fields = ("user",)
    list_select_related = ("user",)
