"""WSGI entry point: ``gunicorn recorder.wsgi``."""
import os

import recorder_missing_module  # noqa: F401

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recorder.settings")

application = get_wsgi_application()
