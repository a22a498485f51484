"""Django settings of the Bolt peer: the minimum ``slack_bolt.adapter.django`` needs.

No database in Django (the stores are SQLAlchemy's), no sessions, auth or templates: the peer
is given nothing it does not use, so nothing slows it down. Every value comes from the
environment the benchmark sets (PEER_* and the SLACK_* of the stand-in).
"""

from __future__ import annotations

import os

DEBUG = False
SECRET_KEY = os.environ["PEER_SECRET_KEY"]
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "benchmarks.peers.bolt_peer"
INSTALLED_APPS: list[str] = []
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING")},
}
