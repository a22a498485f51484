"""A Redis cache without socket timeouts is a warning (installations.W012): the circuit breaker
opens on calls that fail, and a Redis that accepts and never answers makes a call that never ends.
With timeouts, a call to such a Redis ends in bounded time and the page computes without it."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from django.core.cache import cache

from installations import checks
from installations.reporting.enterprises import enterprise_choices

DJANGO_REDIS = "django.core.cache.backends.redis.RedisCache"
DJANGO_REDIS_PACKAGE = "django_redis.cache.RedisCache"


def redis_cache(backend: str = DJANGO_REDIS, **options: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"BACKEND": backend, "LOCATION": "redis://127.0.0.1:1/0"}
    if options:
        config["OPTIONS"] = options
    return {"default": config}


@pytest.mark.parametrize(
    ("backend", "options"),
    [
        (DJANGO_REDIS, {}),
        (DJANGO_REDIS, {"socket_connect_timeout": 2}),
        (DJANGO_REDIS, {"socket_timeout": 2}),
        (DJANGO_REDIS, {"socket_timeout": None, "socket_connect_timeout": 2}),
        (DJANGO_REDIS, {"socket_timeout": 0, "socket_connect_timeout": 2}),
        (DJANGO_REDIS, {"socket_timeout": "2", "socket_connect_timeout": 2}),
        (DJANGO_REDIS_PACKAGE, {"socket_timeout": 2, "socket_connect_timeout": 2}),
        (DJANGO_REDIS_PACKAGE, {"SOCKET_TIMEOUT": 2}),
    ],
)
def test_a_redis_cache_that_could_wait_forever_is_a_warning(
    settings: Any, backend: str, options: dict[str, Any]
) -> None:
    settings.CACHES = redis_cache(backend, **options)
    found = checks.check_cache_timeouts()
    assert [w.id for w in found] == ["installations.W012"]
    assert "timeout" in found[0].msg.lower() and "default" in found[0].msg


@pytest.mark.parametrize(
    "caches",
    [
        redis_cache(socket_timeout=2, socket_connect_timeout=2),
        redis_cache(socket_timeout=0.5, socket_connect_timeout=1),
        redis_cache(DJANGO_REDIS_PACKAGE, SOCKET_TIMEOUT=2, SOCKET_CONNECT_TIMEOUT=2),
        {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}},
    ],
)
def test_a_cache_that_cannot_hang_or_has_timeouts_is_fine(
    settings: Any, caches: dict[str, Any]
) -> None:
    settings.CACHES = caches
    assert checks.check_cache_timeouts() == []


def test_with_timeouts_a_silent_redis_costs_one_timeout_and_the_answer_is_right(
    settings: Any, saved_workspace: Any
) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts (the kernel does) and never answers
    try:
        port = silent.getsockname()[1]
        settings.CACHES = {
            "default": {
                "BACKEND": DJANGO_REDIS,
                "LOCATION": f"redis://127.0.0.1:{port}/0",
                "OPTIONS": {"socket_timeout": 0.3, "socket_connect_timeout": 0.3},
            }
        }
        assert checks.check_cache_timeouts() == []
        saved_workspace(enterprise_id="E0SILENT1", enterprise_name="Silent Org")
        started = time.monotonic()
        assert "E0SILENT1" in dict(enterprise_choices())
        assert "E0SILENT1" in dict(enterprise_choices())
        assert time.monotonic() - started < 2
    finally:
        cache.close()
        silent.close()
