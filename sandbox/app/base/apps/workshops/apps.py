from django.apps import AppConfig


class WorkshopsConfig(AppConfig):
    name = "apps.workshops"
    label = "workshops"
    default_auto_field = "django.db.models.BigAutoField"
