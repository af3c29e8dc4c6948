import secrets

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ObjectDoesNotExist
from django.db import models


def generate_key():
    return secrets.token_hex(20)


class UserProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    is_teacher = models.BooleanField(default=False)
    bio = models.TextField(blank=True)
    website = models.URLField(blank=True)
    slack_id = models.CharField(max_length=64, blank=True)

    def __str__(self):
        return f"accounts profile of {self.user_id}"


class ApiToken(models.Model):
    key = models.CharField(max_length=40, unique=True, default=generate_key)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"token for {self.user_id}"


# --- helpers on the User model -------------------------------------------
# v2 (profile consolidation): accounts.UserProfile is the single source of
# truth; the workshops app's UserProfile is gone.


def _user_is_instructor(self):
    try:
        return bool(self.profile.is_teacher)
    except ObjectDoesNotExist:
        return False


def _user_public_profile(self):
    """The profile whose bio/website is shown on the public teacher page."""
    try:
        return self.profile
    except ObjectDoesNotExist:
        return None


User.add_to_class("is_instructor", _user_is_instructor)
User.add_to_class("public_profile", _user_public_profile)
