"""Settings, read from the environment.

DATABASE_URL  database (default: SQLite file var/fashionid.sqlite3, the embedded default)
REDIS_URL     unset: jobs run inline in the calling process; set: django-rq queues
              `gpu` (encoding), `default` (training, retrieval, routing), `export`
MEDIA_ROOT    where imported images, embeddings and models are stored (default: var/media)
SECRET_KEY    required unless DEBUG is on (then a development default is used)
DEBUG         "1"/"true" to enable (default off)
ALLOWED_HOSTS comma-separated (default: localhost,127.0.0.1 when DEBUG, else empty)
FASHIONID_HTTPS  HTTPS-only settings (HSTS, SSL redirect, secure cookies); default on unless
              DEBUG. "0" for a plain-HTTP intranet install (then `check --deploy` warns).
The README's Configuration table lists every variable.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("FASHIONID_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_rq",
    "axes",
    "fashionid_app",
    "matching",
    "validation",
    "demo",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
    "operations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # last, as django-axes asks: turns a refused (locked-out) login into the lockout page
    "axes.middleware.AxesMiddleware",
]

# Login throttling (django-axes): the axes backend comes first and refuses a locked-out
# (username, IP address) pair before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("FASHIONID_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("FASHIONID_LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# Transport security. On by default in production (DEBUG off), so that `manage.py check
# --deploy` passes; FASHIONID_HTTPS=0 turns the HTTPS-only ones off for a plain-HTTP intranet.
FASHIONID_HTTPS = env_bool("FASHIONID_HTTPS", not DEBUG)
SECURE_SSL_REDIRECT = FASHIONID_HTTPS
SESSION_COOKIE_SECURE = FASHIONID_HTTPS
CSRF_COOKIE_SECURE = FASHIONID_HTTPS
SECURE_HSTS_SECONDS = env_int("FASHIONID_HSTS_SECONDS", 31_536_000) if FASHIONID_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("FASHIONID_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("FASHIONID_HSTS_PRELOAD", True)
# Behind a reverse proxy that terminates TLS and sets X-Forwarded-Proto (overwriting any the
# client sent): trust that header to tell HTTPS requests.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("FASHIONID_TLS_PROXY", False) else None
)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

ROOT_URLCONF = "fashionid_app.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "fashionid_app.context_processors.site",
            ],
        },
    },
]

WSGI_APPLICATION = "fashionid_app.wsgi.application"
ASGI_APPLICATION = "fashionid_app.asgi.application"

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if not DATABASE_URL:  # the embedded default: an SQLite file under VAR_DIR, created on demand
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASE_URL = f"sqlite:///{VAR_DIR / 'fashionid.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Embedded default: WAL lets the web server read while an inline job writes.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Jobs: without REDIS_URL every job runs inline in the calling process.
REDIS_URL = os.environ.get("REDIS_URL", "")
JOB_QUEUES = ("gpu", "default", "export")
RQ_QUEUES = {
    name: {"URL": REDIS_URL or "redis://127.0.0.1:6379/0", "DEFAULT_TIMEOUT": 6 * 3600}
    for name in JOB_QUEUES
}

# Encoding: image-loading worker processes per encode call (0: load in the calling process).
FASHIONID_ENCODE_WORKERS = env_int("FASHIONID_ENCODE_WORKERS", 2)
# Catalogue import: originals are copies; 1: hard links to the catalogue's files where that is
# safe, for catalogue folders that stay read-only once imported (README, "Catalogue import").
FASHIONID_IMPORT_LINK_ORIGINALS = env_bool("FASHIONID_IMPORT_LINK_ORIGINALS", False)
# Export files (CSV) are written here, outside MEDIA_ROOT: only the export view serves them.
FASHIONID_EXPORT_DIR = Path(os.environ.get("FASHIONID_EXPORT_DIR", VAR_DIR / "exports"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# The read-only JSON API (api/): per-system tokens only (no session: a validator's or an
# admin's login gives no API access), GET only, OpenAPI description by drf-spectacular.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.HasApiToken"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "fashionID API",
    "DESCRIPTION": "Read-only feeds of accepted matches and products for downstream systems. "
    "Authenticate with a per-system token: `Authorization: Token <token>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # the schema and its docs page describe endpoints only (no data): readable without a token
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # matches' `source` and products' `decided_by` are one choice set (auto|human): one name
    "ENUM_NAME_OVERRIDES": {"SourceEnum": "matching.models.PairVerdict.Source"},
}
