from django.apps import AppConfig


class CoursesConfig(AppConfig):
    name = "apps.courses"
    label = "courses"
    default_auto_field = "django.db.models.BigAutoField"
