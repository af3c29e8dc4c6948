"""Tiny JSON API: token login and an admin-only profile update.

POST  /auth/login/                  {"email", "password"} -> {"token": key}
PATCH /auth/profile/admin/?email=X  Authorization: Bearer <token>
                                    {"slackId": "..."} -> {"email", "slackId"}
"""
import json
import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from .models import ApiToken, UserProfile

logger = logging.getLogger("apps.accounts.api")


def _error(status, message):
    return JsonResponse({"error": message}, status=status)


def _json_body(request):
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _token_user(request):
    """Return the active user owning the bearer token, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        return None
    token = ApiToken.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return None
    ttl = settings.API_TOKEN_TTL
    if ttl and token.created < timezone.now() - timedelta(seconds=ttl):
        return None
    return token.user


@csrf_exempt
def login(request):
    if request.method != "POST":
        return _error(405, "method not allowed")
    data = _json_body(request)
    if data is None:
        return _error(400, "invalid JSON body")
    email = data.get("email")
    password = data.get("password")
    if not isinstance(email, str) or not isinstance(password, str) or not email:
        return _error(400, "email and password are required")
    user = get_user_model().objects.filter(email__iexact=email.strip()).order_by("id").first()
    if user is None or not user.is_active or not user.check_password(password):
        logger.info("login failed for %s", email)
        return _error(401, "invalid credentials")
    token = ApiToken.objects.create(user=user)
    return JsonResponse({"token": token.key})


@csrf_exempt
def admin_profile(request):
    if request.method != "PATCH":
        return _error(405, "method not allowed")
    actor = _token_user(request)
    if actor is None:
        return _error(401, "missing or invalid token")
    if not actor.is_staff:
        return _error(403, "staff only")
    email = request.GET.get("email", "").strip()
    if not email:
        return _error(400, "email query parameter is required")
    target = get_user_model().objects.filter(email__iexact=email).order_by("id").first()
    if target is None:
        return _error(404, "unknown email")
    data = _json_body(request)
    if data is None:
        return _error(400, "invalid JSON body")
    slack_id = data.get("slackId")
    if not isinstance(slack_id, str) or len(slack_id) > 64:
        return _error(400, "slackId must be a string of at most 64 characters")
    profile, _ = UserProfile.objects.get_or_create(user=target)
    profile.slack_id = slack_id
    profile.save(update_fields=["slack_id"])
    logger.info("%s set slack_id of %s", actor.username, target.email)
    return JsonResponse({"email": target.email, "slackId": profile.slack_id})
