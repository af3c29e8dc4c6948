from django.conf import settings
from django.db import models


class Profile(models.Model):
    """The profile the API edits."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="profile")
    name = models.CharField(max_length=100, blank=True)   # v1-rename: was display_name


class LegacyProfile(models.Model):
    """The old profile: holds phone and time zone, which Profile does not have yet."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="legacy_profile")
    phone = models.CharField(max_length=32, blank=True)
    timezone = models.CharField(max_length=64, blank=True)


class ApiToken(models.Model):
    key = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    created = models.DateTimeField(auto_now_add=True)


# Fields PATCH /api/profile/<id>/ may change.
EDITABLE = ("name",)
