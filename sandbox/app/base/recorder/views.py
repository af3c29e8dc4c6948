import logging
import subprocess
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import connection
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from apps.workshops.models import Workshop

logger = logging.getLogger("recorder.views")


def _revision():
    """The commit this process was started from (read once: a restart is needed to change it)."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parents[1],
                              capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


REVISION = _revision()


@require_GET
def healthz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any database problem means "not healthy"
        logger.warning("healthz: database check failed: %s", exc)
        return JsonResponse({"status": "error", "db": False, "error": str(exc)}, status=503)
    return JsonResponse({"status": "ok", "db": True, "revision": REVISION})


@require_GET
def workshop_list(request):
    workshops = (
        Workshop.objects.filter(is_published=True)
        .select_related("instructor")
        .order_by("-created_at", "-id")[:50]
    )
    return render(request, "workshops/list.html", {"workshops": workshops})


@require_GET
def teacher_detail(request, username):
    user = get_object_or_404(get_user_model(), username=username)
    if not user.is_instructor():
        raise Http404("No such teacher")
    workshops = user.workshops.filter(is_published=True).order_by("-created_at", "-id")[:20]
    return render(
        request,
        "workshops/teacher.html",
        {"teacher": user, "card": user.public_profile(), "workshops": workshops},
    )
