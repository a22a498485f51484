"""Point the test's settings at a Redis cache (Django's own RedisCache), as CACHE_URL would."""

from __future__ import annotations

from typing import Any


def use_redis_cache(settings: Any, location: str, **options: Any) -> None:
    """``settings`` (pytest-django's fixture) now name a Redis cache at ``location``."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": location,
            "KEY_PREFIX": "slackinstall",
            "OPTIONS": options,
        }
    }
