"""Settings for the ``recorder`` sample project.

Configuration comes from environment variables.  Before reading them, an env
file (``KEY=VALUE`` lines, ``#`` comments, optional quotes) is loaded from the
path in ``DJANGO_ENV_FILE`` if that is set, else from
``<BASE_DIR>/../shared/app.env`` if it exists.  Variables already present in
the environment win over the file.
"""
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
SHARED_DIR = BASE_DIR.parent / "shared"


def _parse_env_value(value):
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in ("'", '"'):
        quote, value = value[0], value[1:-1]
        if quote == '"':
            value = value.replace('\\"', '"').replace("\\\\", "\\")
        return value
    # Unquoted: a " #" starts a trailing comment.
    for i, ch in enumerate(value):
        if ch == "#" and (i == 0 or value[i - 1] in " \t"):
            return value[:i].rstrip()
    return value


def load_env_file(path):
    """Load KEY=VALUE lines from ``path`` into os.environ (existing keys win)."""
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("export "):
                line = line[len("export "):].lstrip()
            key, sep, value = line.partition("=")
            key = key.strip()
            if not sep or not key:
                continue
            os.environ.setdefault(key, _parse_env_value(value))


_explicit_env_file = os.environ.get("DJANGO_ENV_FILE")
if _explicit_env_file:
    if not os.path.isfile(_explicit_env_file):
        raise ImproperlyConfigured(f"DJANGO_ENV_FILE={_explicit_env_file} does not exist")
    ENV_FILE = _explicit_env_file
elif (SHARED_DIR / "app.env").is_file():
    ENV_FILE = str(SHARED_DIR / "app.env")
else:
    ENV_FILE = None
if ENV_FILE:
    load_env_file(ENV_FILE)


def env(key, default=None):
    value = os.environ.get(key)
    return default if value is None or value == "" else value


def env_bool(key, default=False):
    value = env(key)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_list(key, default):
    return [item.strip() for item in env(key, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if DEBUG:
        SECRET_KEY = "insecure-debug-only-secret-key"
    else:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set (environment, DJANGO_ENV_FILE or ../shared/app.env)"
        )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")

# Optional lifetime of API tokens, in seconds (unset or 0: tokens never expire).
API_TOKEN_TTL = int(env("API_TOKEN_TTL", "0"))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "apps.accounts",
    "apps.workshops",
    "apps.courses",
]

MIDDLEWARE = [
    "recorder.maintenance.MaintenanceFlagMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "recorder.urls"

# App-level maintenance (recorder/maintenance.py): the flag file and the operator's bypass value.
MAINTENANCE_FLAG = env("MAINTENANCE_FLAG")
MAINTENANCE_BYPASS = env("MAINTENANCE_BYPASS")

# Checks a host may silence (e.g. the TLS ones where a proxy terminates TLS), comma-separated.
SILENCED_SYSTEM_CHECKS = env_list("SILENCED_SYSTEM_CHECKS", "")

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "recorder.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": env("DB_NAME", "recorder"),
        "USER": env("DB_USER", "recorder"),
        "PASSWORD": env("DB_PASSWORD", ""),
        "HOST": env("DB_HOST", "127.0.0.1"),
        "PORT": env("DB_PORT", "5432"),
        "CONN_MAX_AGE": 0,
        "OPTIONS": {"connect_timeout": 5},
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = SHARED_DIR / "static"

LOG_LEVEL = env("LOG_LEVEL", "INFO").upper()

# Everything goes to stderr (gunicorn sends its stderr to a log file).
# django.request logs unhandled view exceptions at ERROR with exc_info, so the
# full traceback (AttributeError, DoesNotExist, ...) ends up in that log.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "verbose": {
            "format": "%(asctime)s %(levelname)s [%(name)s] [pid %(process)d] %(message)s",
        },
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "verbose",
        },
    },
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stderr"], "level": LOG_LEVEL, "propagate": False},
        "django.request": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        "django.db.backends": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        "recorder": {"handlers": ["stderr"], "level": LOG_LEVEL, "propagate": False},
        "apps": {"handlers": ["stderr"], "level": LOG_LEVEL, "propagate": False},
    },
}
