"""Settings for slackinstall, read from the environment (django-environ) and an optional .env.

With DJANGO_DEBUG off (the default) every secret must come from the environment: a missing or
malformed one stops start-up with one line naming the variable. With DJANGO_DEBUG on, secrets that
are not set come from a generated, git-ignored ``.dev-secrets.json`` so ``make run`` just works.
``*_FILE`` variants (e.g. TOKEN_ENCRYPTION_KEYS_FILE) read a mounted secret file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from installations.crypto import Keyring, KeyringError

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.FileAwareEnv()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)

_dev_secrets: dict[str, str] = {}
if DEBUG:
    from .dev_secrets import load_or_create

    _dev_secrets = load_or_create(BASE_DIR / ".dev-secrets.json")


def _secret(name: str, *, dev_default: str | None = None) -> str:
    """A required secret: from the environment, or (debug only) a development default."""
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return _dev_secrets.get(name, dev_default or "")
    raise ImproperlyConfigured(f"{name} is not set (required when DJANGO_DEBUG is off)")


SECRET_KEY = _secret("DJANGO_SECRET_KEY")
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])

TOKEN_ENCRYPTION_KEYS = _secret("TOKEN_ENCRYPTION_KEYS")
try:
    Keyring.parse(TOKEN_ENCRYPTION_KEYS)
except KeyringError as exc:
    raise ImproperlyConfigured(str(exc)) from None

SLACK_CLIENT_ID = _secret("SLACK_CLIENT_ID", dev_default="")
SLACK_CLIENT_SECRET = _secret("SLACK_CLIENT_SECRET", dev_default="")
SLACK_SIGNING_SECRET = _secret("SLACK_SIGNING_SECRET")
SLACK_APP_ID = env.str("SLACK_APP_ID", default="")  # optional: checks oauth.v2.access answers
SLACK_SCOPES = env.str("SLACK_SCOPES", default="commands,chat:write")
SLACK_USER_SCOPES = env.str("SLACK_USER_SCOPES", default="")
SLACK_API_URL = env.str("SLACK_API_URL", default="https://slack.com/api/")
SLACK_AUTHORIZE_URL = env.str("SLACK_AUTHORIZE_URL", default="https://slack.com/oauth/v2/authorize")
SLACK_STATE_TTL_SECONDS = env.int("SLACK_STATE_TTL_SECONDS", default=600)
SLACK_HTTP_TIMEOUT_SECONDS = env.int("SLACK_HTTP_TIMEOUT_SECONDS", default=10)
SLACK_TOKEN_ROTATION_MINUTES = env.int("SLACK_TOKEN_ROTATION_MINUTES", default=120)

SLACK_REDIRECT_URI = env.str(
    "SLACK_REDIRECT_URI",
    default="http://127.0.0.1:8000/slack/oauth_redirect" if DEBUG else "",
)
if not SLACK_REDIRECT_URI:
    raise ImproperlyConfigured("SLACK_REDIRECT_URI is not set (required when DJANGO_DEBUG is off)")
_redirect = urlsplit(SLACK_REDIRECT_URI)
_loopback = _redirect.hostname in ("127.0.0.1", "localhost", "::1")
if _redirect.scheme != "https" and not (_redirect.scheme == "http" and (DEBUG or _loopback)):
    raise ImproperlyConfigured("SLACK_REDIRECT_URI must be an absolute https:// URL")
if "#" in SLACK_REDIRECT_URI:
    raise ImproperlyConfigured("SLACK_REDIRECT_URI may not contain '#'")

ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
if "*" in ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS may not contain '*': list the real host names")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "installations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "installations.middleware.RejectNulBytesMiddleware",
    "installations.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "slackinstall.urls"
WSGI_APPLICATION = "slackinstall.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue instead of failing
    # with "database is locked" halfway through a transaction (Django >= 5.1).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The admin's health expressions make PostgreSQL's row estimates large enough to trigger JIT
    # compilation, which alone cost ~0.5 s per count at 100,000 rows (benchmarks/admin_list.py).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
# Test databases: SQLite as a real file (threads and subprocesses see one database), and a name
# per test process so parallel runs on one machine never share a test database.
_test_suffix = env.str("SLACKINSTALL_TEST_DB_SUFFIX", default=str(os.getpid()))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"slackinstall-test-{_test_suffix}.sqlite3")
    }
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_slackinstall_{_test_suffix}"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files: the admin's CSS and JS, served by whitenoise --------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Compressed copies, no hashed names: a manifest would make every admin page fail to render
    # until collectstatic ran (tests, a fresh checkout); the admin's few files need no
    # far-future caching.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# `make serve` collects into STATIC_ROOT and whitenoise indexes that tree once at start. Without a
# collected tree (make run, tests) it finds files in the apps' static folders per request, as
# its docs advise for development, instead of warning "No directory at: .../staticfiles/".
WHITENOISE_USE_FINDERS = WHITENOISE_AUTOREFRESH = DEBUG or not STATIC_ROOT.is_dir()

# --- Security: strict unless debugging locally -------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = False
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
USE_X_FORWARDED_HOST = False
# Debug error pages and error mails cleanse secrets and @sensitive_variables with DEBUG on as well.
DEFAULT_EXCEPTION_REPORTER_FILTER = "installations.error_reporting.DebugSafeExceptionFilter"
SILENCED_SYSTEM_CHECKS = [
    # W021: HSTS preload is a one-way commitment for the whole domain; left to the operator.
    "security.W021",
]
# Content-Security-Policy on every response comes from installations.security (same origin only,
# frame-ancestors 'none'); a CSP_POLICY dict here would replace its DEFAULT_POLICY.

# --- Logging: JSON lines on stdout, everything through the redaction filter ----------------------
# slack_sdk and slack_bolt are kept out of DEBUG: they log whole request and response bodies
# (codes, tokens) there. DJANGO_LOG_FORMAT=plain|json (plain by default with DJANGO_DEBUG on).
LOG_LEVEL = env.str("DJANGO_LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("DJANGO_LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "installations.redaction.RedactSecretsFilter"}},
    "formatters": {
        "json": {"()": "installations.log_format.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "plain" if LOG_FORMAT == "plain" else "json",
            "filters": ["redact"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "slack_sdk": {"level": "INFO"},
        "slack_bolt": {"level": "INFO"},
        # runserver's request lines carry the query string (the OAuth code): same filter.
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
