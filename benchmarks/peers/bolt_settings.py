"""Django settings of the Bolt peer.

``PEER_STORES=sqlalchemy`` (the default, the headline peer): the minimum
``slack_bolt.adapter.django`` needs. No database in Django (the stores are SQLAlchemy's), no
sessions, auth or templates: the peer is given nothing it does not use, so nothing slows it down.

``PEER_STORES=django``: as bolt-python's examples/django wires it. Its installed apps (the admin
and static files aside: no page of theirs is served) and its middleware, the example's
Django-model stores (benchmarks/peers/example_app/) on the benchmark database
(``PEER_DJANGO_DATABASE_URL``), with our side's connection options (persistent, health-checked,
PostgreSQL preparing repeated statements): the example's defaults would connect afresh on every
request.

Every value comes from the environment the benchmark sets (PEER_* and the SLACK_* of the
stand-in).
"""

from __future__ import annotations

import os
from typing import Any

import environ

DEBUG = False
SECRET_KEY = os.environ["PEER_SECRET_KEY"]
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "benchmarks.peers.bolt_peer"
USE_TZ = True
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING")},
}
PEER_STORES = os.environ.get("PEER_STORES", "sqlalchemy")

INSTALLED_APPS: list[str] = []
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
DATABASES: dict[str, dict[str, Any]] = {}
if PEER_STORES == "django":
    INSTALLED_APPS = [
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django.contrib.messages",
        "benchmarks.peers.example_app",
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
    DATABASES = {"default": environ.Env().db_url_config(os.environ["PEER_DJANGO_DATABASE_URL"])}
    DATABASES["default"].update(CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=True)
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["OPTIONS"] = {"server_side_binding": True, "prepare_threshold": 5}
    DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
elif PEER_STORES != "sqlalchemy":
    raise ValueError(f"PEER_STORES={PEER_STORES!r}: sqlalchemy or django")
