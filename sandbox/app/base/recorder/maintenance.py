"""App-level maintenance mode: while the file named by MAINTENANCE_FLAG exists, every request
gets 503 with the maintenance page, except one carrying `X-Maintenance-Bypass: MAINTENANCE_BYPASS`.
Checked per request (a `touch`/`rm` needs no restart); the runbook's `/app/maintenance.flag`."""
import os

from django.conf import settings
from django.http import HttpResponse

PAGE = ("<!doctype html><title>Scheduled Maintenance</title><h1>Scheduled Maintenance</h1>"
        "<p>We are upgrading the service and will be back shortly.</p>")


class MaintenanceFlagMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        flag, secret = settings.MAINTENANCE_FLAG, settings.MAINTENANCE_BYPASS
        if flag and os.path.exists(flag) and not (
                secret and request.headers.get("X-Maintenance-Bypass") == secret):
            response = HttpResponse(PAGE, status=503)
            response["Retry-After"] = "600"
            return response
        return self.get_response(request)
