"""WSGI entry point; DJANGO_SETTINGS_MODULE comes from the environment (the env file)."""
from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
