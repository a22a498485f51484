"""A minimal host project that installs django-slackinstall: only what a developer writes.

The Slack values come from the environment the test sets (the stand-in's URLs, generated secrets).
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
    "installations",
    "hostsite",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
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

# --- django-slackinstall ---------------------------------------------------------------------
SLACK_CLIENT_ID = os.environ["HOST_SLACK_CLIENT_ID"]
SLACK_CLIENT_SECRET = os.environ["HOST_SLACK_CLIENT_SECRET"]
SLACK_SIGNING_SECRET = os.environ["HOST_SLACK_SIGNING_SECRET"]
SLACK_REDIRECT_URI = "https://testserver/integrations/slack/oauth_redirect"
TOKEN_ENCRYPTION_KEYS = os.environ["HOST_TOKEN_ENCRYPTION_KEYS"]
SLACK_INSTALL_CUSTOM_VALUES = "hostsite.hooks.custom_values"
# Only because the test talks to the local stand-in instead of slack.com:
SLACK_API_URL = os.environ["HOST_SLACK_API_URL"]
SLACK_AUTHORIZE_URL = os.environ["HOST_SLACK_AUTHORIZE_URL"]
