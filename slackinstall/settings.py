"""Settings for slackinstall, read from the environment (django-environ) and an optional .env.

With DJANGO_DEBUG off (the default) every secret must come from the environment. Problems are
collected, not raised one at a time: every missing or malformed variable lands in
CONFIGURATION_PROBLEMS (one line each, naming the variable, never its value), the settings still
load with inert placeholders, and manage.py, wsgi.py, asgi.py and gunicorn.conf.py refuse to
start with the whole list (slackinstall/startup.py); the commands that need no configuration
(slack_init, slack_keygen, help) still run. With DJANGO_DEBUG on, secrets that are not set come
from a generated, git-ignored ``.dev-secrets.json`` so ``make run`` just works, and without a
SLACK_CLIENT_ID every Slack call goes to the local stand-in (installations/dev_standin.py).
``*_FILE`` variants (e.g. TOKEN_ENCRYPTION_KEYS_FILE) read a mounted secret file.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import warnings
import zoneinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import environ

from .env_config import ConfigReader, is_loopback_url

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.FileAwareEnv()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")  # variables already in the environment win

cfg = ConfigReader(env)
DEBUG = cfg.boolean("DJANGO_DEBUG", default=False)
if not DEBUG:
    cfg.debug_hint = " (required when DJANGO_DEBUG is off)"

_dev_secrets: dict[str, str] = {}
if DEBUG:
    from .dev_secrets import load_or_create

    try:
        _dev_secrets = load_or_create(BASE_DIR / ".dev-secrets.json")
    except (OSError, ValueError) as exc:
        cfg.problem(f"cannot read or create .dev-secrets.json ({type(exc).__name__})")


def _secret(name: str) -> str:
    """A required secret: from the environment, or (debug only) a development default."""
    if DEBUG:
        return cfg.text(name) or _dev_secrets.get(name, "")
    return cfg.required(name)


# An unusable configuration still needs a non-empty SECRET_KEY for Django to load: a random one,
# used by nothing (start-up stops before serving) and gone with the process.
SECRET_KEY = _secret("DJANGO_SECRET_KEY") or "unconfigured-" + secrets.token_urlsafe(50)
SECRET_KEY_FALLBACKS = cfg.words("DJANGO_SECRET_KEY_FALLBACKS", default=[])


# Whether the keys are usable (well-formed, not the secret key, the active id among them) is
# decided in one place, the app's system check (installations/checks.py, check_keyring), which
# start-up runs with the problems collected here (slackinstall/startup.py): one line per problem.
# Malformed keys encrypt nothing: the app's keyring() raises on them.
TOKEN_ENCRYPTION_KEYS = _secret("TOKEN_ENCRYPTION_KEYS")
if DEBUG and cfg.text("TOKEN_ENCRYPTION_KEYS") and _dev_secrets.get("TOKEN_ENCRYPTION_KEYS"):
    # A .env written by `make env` names a production key; development's data stays readable in
    # debug: the development key is added after the configured ones, so it only decrypts.
    _dev_key = _dev_secrets["TOKEN_ENCRYPTION_KEYS"]
    if _dev_key.split(":", 1)[0] not in {
        entry.split(":", 1)[0].strip() for entry in TOKEN_ENCRYPTION_KEYS.split(",")
    }:
        TOKEN_ENCRYPTION_KEYS += "," + _dev_key
# Rolling key rotation (docs/production.md): the key id that encrypts; every other listed key
# only decrypts. Unset: the first entry encrypts. An id not in the keyring stops start-up.
TOKEN_ENCRYPTION_ACTIVE_KEY_ID = cfg.text("TOKEN_ENCRYPTION_ACTIVE_KEY_ID")

# --- Slack -----------------------------------------------------------------------------------
# Development without a Slack app: DJANGO_DEBUG on and no SLACK_CLIENT_ID. Then the app is the
# local stand-in's (credentials generated once, kept in .dev-secrets.json), and Slack URLs that
# do not point at this machine are ignored, so development tokens never reach slack.com. The
# stand-in is started by `make run`, or on demand by the commands that call Slack.
SLACK_STANDIN_PORT = cfg.port("SLACK_STANDIN_PORT", 8001)
SLACK_USES_STANDIN = DEBUG and not cfg.is_set("SLACK_CLIENT_ID")
_STANDIN_URL = f"http://127.0.0.1:{SLACK_STANDIN_PORT}"


def _slack_url(name: str, standin_default: str, real_default: str) -> str:
    value = cfg.text(name)
    if SLACK_USES_STANDIN:
        return value if value and is_loopback_url(value) else standin_default
    return value or real_default


if SLACK_USES_STANDIN:
    SLACK_CLIENT_ID = _dev_secrets.get("SLACK_STANDIN_CLIENT_ID", "")
    SLACK_CLIENT_SECRET = _dev_secrets.get("SLACK_STANDIN_CLIENT_SECRET", "")
else:
    SLACK_CLIENT_ID = _secret("SLACK_CLIENT_ID")
    SLACK_CLIENT_SECRET = _secret("SLACK_CLIENT_SECRET")
SLACK_SIGNING_SECRET = _secret("SLACK_SIGNING_SECRET")
SLACK_APP_ID = cfg.text("SLACK_APP_ID")  # optional: checks oauth.v2.access answers
# The developer's Bolt app behind the one Request URL (example_app in development), and an
# optional callable giving custom values to store with each install (docs/settings.md).
SLACK_BOLT_APP = cfg.text("SLACK_BOLT_APP", "example_app.slack_app.build_app" if DEBUG else "")
SLACK_INSTALL_CUSTOM_VALUES = cfg.text("SLACK_INSTALL_CUSTOM_VALUES")
# Branding on the install, success and error pages and in the admin (all optional).
SLACK_APP_NAME = cfg.text("SLACK_APP_NAME")
SLACK_APP_DESCRIPTION = cfg.text("SLACK_APP_DESCRIPTION")
SLACK_APP_ICON = cfg.text("SLACK_APP_ICON")
SLACK_APP_PRIVACY_URL = cfg.text("SLACK_APP_PRIVACY_URL")
SLACK_APP_SUPPORT_URL = cfg.text("SLACK_APP_SUPPORT_URL")
# This project's admin is the app's: titled "<app name> installations" (a host's stays its own).
SLACK_ADMIN_TITLES = True
SLACK_SCOPES = cfg.text("SLACK_SCOPES", "commands,chat:write")
SLACK_USER_SCOPES = cfg.text("SLACK_USER_SCOPES")
SLACK_API_URL = _slack_url("SLACK_API_URL", _STANDIN_URL + "/api/", "https://slack.com/api/")
SLACK_AUTHORIZE_URL = _slack_url(
    "SLACK_AUTHORIZE_URL",
    _STANDIN_URL + "/oauth/v2/authorize",
    "https://slack.com/oauth/v2/authorize",
)
SLACK_STATE_TTL_SECONDS = cfg.integer("SLACK_STATE_TTL_SECONDS", 600, minimum=1)
SLACK_PKCE = cfg.boolean("SLACK_PKCE", default=False)
SLACK_HTTP_TIMEOUT_SECONDS = cfg.integer("SLACK_HTTP_TIMEOUT_SECONDS", 10, minimum=1)
SLACK_TOKEN_ROTATION_MINUTES = cfg.integer("SLACK_TOKEN_ROTATION_MINUTES", 120, minimum=1)

# --- Operations: /metrics and how long personal data is kept (docs/production.md, privacy.md) --
# /metrics answers only a bearer of METRICS_TOKEN (unset: 404). SLACK_RETENTION_DAYS: unset keeps
# everything; else slack_purge_history erases what is older (docs/privacy.md).
METRICS_TOKEN = cfg.text("METRICS_TOKEN")
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    cfg.problem("METRICS_TOKEN is too short: use at least 16 random characters")
SLACK_RETENTION_DAYS = cfg.integer("SLACK_RETENTION_DAYS", 0, minimum=1) or None

# --- Sign in with Slack (installations/signin, docs/security.md "Sign in with Slack") -----------
# On in this project; its URLs are included in slackinstall/urls.py. The redirect URI defaults to
# SLACK_REDIRECT_URI's origin + /slack/signin/callback (add it to the Slack app's Redirect URLs).
SLACK_SIGNIN_ENABLED = cfg.boolean("SLACK_SIGNIN_ENABLED", default=True)
SLACK_SIGNIN_REDIRECT_URI = cfg.text("SLACK_SIGNIN_REDIRECT_URI")
SLACK_SIGNIN_AUTHORIZE_URL = _slack_url(
    "SLACK_SIGNIN_AUTHORIZE_URL",
    _STANDIN_URL + "/openid/connect/authorize",
    "https://slack.com/openid/connect/authorize",
)
SLACK_SIGNIN_JWKS_URL = _slack_url(
    "SLACK_SIGNIN_JWKS_URL",
    _STANDIN_URL + "/openid/connect/keys",
    "https://slack.com/openid/connect/keys",
)
SLACK_SIGNIN_JWKS_CACHE_SECONDS = cfg.integer("SLACK_SIGNIN_JWKS_CACHE_SECONDS", 3600, minimum=0)
SLACK_SIGNIN_ALLOWED_TEAMS = cfg.words("SLACK_SIGNIN_ALLOWED_TEAMS", default=[])  # [] = any
SLACK_SIGNIN_STAFF_TEAMS = cfg.words("SLACK_SIGNIN_STAFF_TEAMS", default=[])
SLACK_SIGNIN_STAFF_USERS = cfg.words("SLACK_SIGNIN_STAFF_USERS", default=[])
SLACK_SIGNIN_STAFF_EMAIL_DOMAIN = cfg.text("SLACK_SIGNIN_STAFF_EMAIL_DOMAIN")
SLACK_SIGNIN_STAFF_GROUP = cfg.text("SLACK_SIGNIN_STAFF_GROUP")
SLACK_SIGNIN_PASSWORD_LOGIN = cfg.boolean("SLACK_SIGNIN_PASSWORD_LOGIN", default=True)
# ModelBackend that refuses passwords when SLACK_SIGNIN_PASSWORD_LOGIN is false.
AUTHENTICATION_BACKENDS = ["installations.signin.backends.PasswordSwitchModelBackend"]

# `make run` serves on PORT (8000 by default); the redirect URI follows it in debug.
DEV_SERVER_PORT = cfg.port("PORT", 8000) if DEBUG else 8000
if DEBUG:
    SLACK_REDIRECT_URI = cfg.text(
        "SLACK_REDIRECT_URI", f"http://127.0.0.1:{DEV_SERVER_PORT}/slack/oauth_redirect"
    )
else:
    SLACK_REDIRECT_URI = cfg.required("SLACK_REDIRECT_URI")
if SLACK_REDIRECT_URI:
    _redirect = urlsplit(SLACK_REDIRECT_URI)
    _loopback = _redirect.hostname in ("127.0.0.1", "localhost", "::1")
    if _redirect.scheme != "https" and not (_redirect.scheme == "http" and (DEBUG or _loopback)):
        cfg.problem("SLACK_REDIRECT_URI must be an absolute https:// URL")
        SLACK_REDIRECT_URI = ""
    elif "#" in SLACK_REDIRECT_URI:
        cfg.problem("SLACK_REDIRECT_URI may not contain '#'")
        SLACK_REDIRECT_URI = ""

# --- Hosts -----------------------------------------------------------------------------------
# Required in production: without it Django answers every request with 400.
if DEBUG:
    ALLOWED_HOSTS = cfg.words("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
else:
    ALLOWED_HOSTS = cfg.words("DJANGO_ALLOWED_HOSTS", default=[])
    if not ALLOWED_HOSTS:
        cfg.required("DJANGO_ALLOWED_HOSTS")
if "*" in ALLOWED_HOSTS:
    cfg.problem("DJANGO_ALLOWED_HOSTS may not contain '*': list the real host names")
    ALLOWED_HOSTS = []
CSRF_TRUSTED_ORIGINS = cfg.words("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "installations",
    "installations.signin",  # Sign in with Slack: its table (leave it out for none)
]

# The security headers first: a middleware adds its headers only to the answers of the layers
# below it, and every answer (the NUL guard's 400, Django's 400/403/404/500 pages) must carry them.
MIDDLEWARE = [
    "installations.middleware.ContentSecurityPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "installations.middleware.RejectNulBytesMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
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

_SQLITE_DEFAULT = f"sqlite:///{BASE_DIR / 'db.sqlite3'}"


def _database(url: str) -> dict[str, Any]:
    with warnings.catch_warnings():  # django-environ warns of an unknown scheme: said below
        warnings.simplefilter("ignore", UserWarning)
        config: dict[str, Any] = env.db_url_config(url)
    if "." not in config.get("ENGINE", ""):  # django-environ passes unknown schemes through
        raise ValueError("DATABASE_URL has an unknown scheme (postgres://, sqlite:///, ...)")
    return config


DATABASES = {
    "default": cfg.parsed(
        "DATABASE_URL",
        cfg.text("DATABASE_URL", _SQLITE_DEFAULT),
        _database,
        placeholder=env.db_url_config("sqlite://:memory:"),
    )
}
# Persistent connections (seconds): a new PostgreSQL connection costs a few milliseconds per
# request otherwise; health checks drop a connection the server closed before reusing it.
# DJANGO_CONN_MAX_AGE=0 behind a pooler that already keeps connections (docs/production.md).
if cfg.is_set("DJANGO_CONN_MAX_AGE") or "CONN_MAX_AGE" not in DATABASES["default"]:
    DATABASES["default"]["CONN_MAX_AGE"] = cfg.integer("DJANGO_CONN_MAX_AGE", 0 if DEBUG else 60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Transaction pooling (PgBouncer pool_mode=transaction) cannot keep server-side cursors open.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = cfg.boolean(
    "DJANGO_DISABLE_SERVER_SIDE_CURSORS", default=False
)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue instead of failing
    # with "database is locked" halfway through a transaction (Django >= 5.1).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )
# PostgreSQL: parameters bound by the server, and a statement a connection runs five times
# prepared there (psycopg's prepare_threshold): the same lookups every event and install makes
# are neither quoted in Python nor parsed and planned again. DJANGO_POSTGRES_PREPARED_STATEMENTS=
# false behind a pooler that cannot keep them, such as PgBouncer before 1.21 in transaction mode
# (docs/production.md).
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and cfg.boolean(
    "DJANGO_POSTGRES_PREPARED_STATEMENTS", default=True
):
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"server_side_binding": True, "prepare_threshold": 5}
    )
# PostgreSQL: JIT compilation is turned off per session after connecting
# (installations/infrastructure/database.py), not with a startup `options` parameter, which
# connection poolers such as PgBouncer refuse. DJANGO_POSTGRES_SET_JIT_OFF=false when the role
# already has `ALTER ROLE ... SET jit = off` (docs/production.md).
POSTGRES_SET_JIT_OFF = cfg.boolean("DJANGO_POSTGRES_SET_JIT_OFF", default=True)
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

# --- Cache: shared by every instance in production ----------------------------------------------
# CACHE_URL=redis://cache.internal:6379/0 (or rediss://) selects Django's own RedisCache, so
# every instance and worker sees one set of cached counts and choices (docs/production.md).
# Unset: a local-memory cache per process, enough for one instance. Keys carry the app's release
# and cache-shape version (installations/infrastructure/shared_cache.py), so releases never read
# each other's values during a rolling deploy.
_REDIS_SCHEMES = ("redis", "rediss")


def _cache(url: str) -> dict[str, Any]:
    scheme = urlsplit(url).scheme
    backend = "django.core.cache.backends.redis.RedisCache" if scheme in _REDIS_SCHEMES else None
    if scheme not in (*_REDIS_SCHEMES, "locmemcache", "dummycache"):
        raise ValueError("CACHE_URL must be redis://, rediss:// or locmemcache://")
    if scheme in _REDIS_SCHEMES and not urlsplit(url).hostname:
        raise ValueError("CACHE_URL names no Redis host (redis://host:6379/0)")
    config: dict[str, Any] = env.cache_url_config(url, backend=backend)
    if backend:
        # Short socket timeouts: an unreachable cache makes pages compute without it (and
        # /readyz answer 503) instead of hanging a worker.
        config.setdefault("OPTIONS", {}).setdefault("socket_connect_timeout", 2)
        config["OPTIONS"].setdefault("socket_timeout", 2)
    config["KEY_PREFIX"] = "slackinstall"
    return config


CACHES = {
    "default": cfg.parsed(
        "CACHE_URL",
        cfg.text("CACHE_URL", "locmemcache://"),
        _cache,
        placeholder={"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    )
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = cfg.text("DJANGO_TIME_ZONE", "UTC")
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (ValueError, zoneinfo.ZoneInfoNotFoundError):
    cfg.problem("DJANGO_TIME_ZONE is not a time zone name (e.g. UTC, Europe/Paris)")
    TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files: the admin's CSS and JS, served by whitenoise --------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(cfg.text("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
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
SECURE_SSL_REDIRECT = cfg.boolean("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = cfg.boolean("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_HSTS_SECONDS = cfg.integer("DJANGO_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = cfg.boolean("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = False
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
USE_X_FORWARDED_HOST = False
# Debug error pages and error mails cleanse secrets and @sensitive_variables with DEBUG on as well.
DEFAULT_EXCEPTION_REPORTER_FILTER = (
    "installations.observability.error_reporting.DebugSafeExceptionFilter"
)
# The reporter too: Django puts the query string and exception messages on the page unfiltered.
DEFAULT_EXCEPTION_REPORTER = (
    "installations.observability.error_reporting.DebugSafeExceptionReporter"
)
# Error mails (ADMINS) through SMTP, as Django's default: named in MAILERS, the setting Django 6.1
# reads (its EMAIL_BACKEND is deprecated there). Django 5.2 and 6.0 ignore MAILERS and use the
# same default backend.
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend"}}
SILENCED_SYSTEM_CHECKS = [
    # W021: HSTS preload is a one-way commitment for the whole domain; left to the operator.
    "security.W021",
]
# Content-Security-Policy on every response comes from installations.middleware (same origin only,
# frame-ancestors 'none'); a CSP_POLICY dict here would replace its DEFAULT_POLICY.

# --- Logging: JSON lines on stdout, everything through the redaction filter ----------------------
# slack_sdk and slack_bolt are kept out of DEBUG: they log whole request and response bodies
# (codes, tokens) there. DJANGO_LOG_FORMAT=plain|json (plain by default with DJANGO_DEBUG on).
LOG_LEVEL = cfg.text("DJANGO_LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    cfg.problem("DJANGO_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
    LOG_LEVEL = "INFO"
LOG_FORMAT = cfg.text("DJANGO_LOG_FORMAT", "plain" if DEBUG else "json")
if LOG_FORMAT not in ("plain", "json"):
    cfg.problem("DJANGO_LOG_FORMAT must be plain or json")
    LOG_FORMAT = "json"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "installations.observability.redaction.RedactSecretsFilter"}},
    "formatters": {
        "json": {"()": "installations.observability.log_format.JsonFormatter"},
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

# Keep last: every problem found above, one line each. Non-empty means "do not serve":
# slackinstall/startup.py stops manage.py, wsgi.py, asgi.py and gunicorn with the whole list.
CONFIGURATION_PROBLEMS = list(cfg.problems)
