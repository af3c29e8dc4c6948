"""Health and the JSON API (a token login and a profile PATCH, like PyBot's)."""
import json
import secrets

from django.contrib.auth import get_user_model
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .models import EDITABLE, ApiToken, Profile


def health(request):
    """200 {"status": "ok"} after a SELECT 1; 503 when the database does not answer."""
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
    except Exception:
        return JsonResponse({"status": "error"}, status=503)
    return JsonResponse({"status": "ok"})


def _json(request):
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


@csrf_exempt
def token(request):
    """POST {"email", "password"} -> {"token", "profile_id"}; 401 on bad credentials."""
    if request.method != "POST":
        return JsonResponse({"error": "POST only"}, status=405)
    data = _json(request)
    if data is None:
        return JsonResponse({"error": "expected a JSON object"}, status=400)
    user = get_user_model().objects.filter(email__iexact=data.get("email", "")).first()
    if user is None or not user.check_password(data.get("password", "")):
        return JsonResponse({"error": "bad credentials"}, status=401)
    tok = ApiToken.objects.create(key=secrets.token_hex(20), user=user)
    return JsonResponse({"token": tok.key, "profile_id": user.profile.id})


@csrf_exempt
def profile(request, pk):
    """PATCH with `Authorization: Bearer <token>` (the owner or staff) -> the profile."""
    if request.method != "PATCH":
        return JsonResponse({"error": "PATCH only"}, status=405)
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    tok = ApiToken.objects.select_related("user").filter(key=key).first()
    if scheme != "Bearer" or not key or tok is None:
        return JsonResponse({"error": "no or bad token"}, status=401)
    p = Profile.objects.filter(pk=pk).first()
    if p is None:
        return JsonResponse({"error": "no such profile"}, status=404)
    if p.user_id != tok.user_id and not tok.user.is_staff:
        return JsonResponse({"error": "not yours"}, status=403)
    data = _json(request)
    if data is None:
        return JsonResponse({"error": "expected a JSON object"}, status=400)
    unknown = sorted(set(data) - set(EDITABLE))
    if unknown:
        return JsonResponse({"error": f"not editable: {', '.join(unknown)}"}, status=400)
    for field, value in data.items():
        setattr(p, field, str(value))
    p.save(update_fields=list(data) or None)
    return JsonResponse({"id": p.id, **{f: getattr(p, f) for f in EDITABLE}})
