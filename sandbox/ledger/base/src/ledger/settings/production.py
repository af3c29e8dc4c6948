"""Production: strict hosts, HTTPS behind a proxy that sets X-Forwarded-Proto. HSTS and secure
cookies are left unset, so `check --deploy` warns (as on many real apps)."""
from .base import *  # noqa: F401,F403

DEBUG = False
ALLOWED_HOSTS = ["ledger.sandbox.test"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = True
