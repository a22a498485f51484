"""A minimal host project that installs django-slackinstall: only what a developer writes.

Production-shaped (DEBUG off, HTTPS only, the security middleware) so ``check --deploy`` has
nothing to say. The Slack values come from the environment the test sets (the stand-in's URLs,
generated secrets); HOST_BOLT_APP names the Bolt app the test wants behind /slack/events.
"""

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ["HOST_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "installations",
    "installations.signin",
    "hostsite",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "hostsite.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [HERE / "templates"],  # the host's own base template overrides the app's
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["HOST_DB"]}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"  # the host's choice: no migration for the app
USE_TZ = True
STATIC_URL = "static/"

# HTTPS only, as in production.
SECURE_SSL_REDIRECT = True
SECURE_HSTS_SECONDS = 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True

# --- django-slackinstall ---------------------------------------------------------------------
SLACK_CLIENT_ID = os.environ["HOST_SLACK_CLIENT_ID"]
SLACK_CLIENT_SECRET = os.environ["HOST_SLACK_CLIENT_SECRET"]
SLACK_SIGNING_SECRET = os.environ["HOST_SLACK_SIGNING_SECRET"]
SLACK_REDIRECT_URI = "https://testserver/integrations/slack/oauth_redirect"
TOKEN_ENCRYPTION_KEYS = os.environ["HOST_TOKEN_ENCRYPTION_KEYS"]
SLACK_INSTALL_CUSTOM_VALUES = "hostsite.hooks.custom_values"
SLACK_BOLT_APP = os.environ.get("HOST_BOLT_APP", "")
SLACK_SIGNIN_ENABLED = True
# Only because the test talks to the local stand-in instead of slack.com:
SLACK_API_URL = os.environ["HOST_SLACK_API_URL"]
SLACK_AUTHORIZE_URL = os.environ["HOST_SLACK_AUTHORIZE_URL"]
SLACK_SIGNIN_AUTHORIZE_URL = os.environ["HOST_SLACK_SIGNIN_AUTHORIZE_URL"]
SLACK_SIGNIN_JWKS_URL = os.environ["HOST_SLACK_JWKS_URL"]
