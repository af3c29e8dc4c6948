from django.conf import settings
from django.db import models


class UserProfile(models.Model):
    """Legacy per-app profile; superseded by accounts.UserProfile in v2."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="workshops_profile"
    )
    is_instructor = models.BooleanField(default=False)
    bio = models.TextField(blank=True)
    website = models.URLField(blank=True)

    def __str__(self):
        return f"workshops profile of {self.user_id}"


class Workshop(models.Model):
    title = models.CharField(max_length=200)
    instructor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="workshops"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    is_published = models.BooleanField(default=True)

    def __str__(self):
        return self.title
