"""The shared cache: CACHE_URL, versioned keys, counts invalidated at once, and a cache outage.

The Redis half starts its own redis-server on a free loopback port (the ``redis_url`` fixture).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache, caches

from installations import __version__
from installations.infrastructure.shared_cache import CACHE_SHAPES, cache_key
from installations.models import Health, Workspace
from installations.reporting import health
from tests.support.cache import use_redis_cache

ROOT = Path(__file__).resolve().parents[2]


def test_keys_name_the_release_and_the_cache_shapes() -> None:
    key = cache_key("status_counts", "select ...", ("commands",))
    assert key.startswith(f"installations:{__version__}:{CACHE_SHAPES}:status_counts:")
    assert key != cache_key("status_counts", "select ...", ("chat:write",))
    assert len(key) < 100  # fixed size whatever the query


@pytest.mark.django_db(transaction=True)
def test_a_status_change_invalidates_the_cached_counts_at_once() -> None:
    ws = Workspace.objects.create(client_id="1111.2222", team_id="T0COUNT1", bot_scopes="")
    before = health.status_counts(Workspace.objects.all())
    assert before["total"] == 1
    Workspace.objects.create(client_id="1111.2222", team_id="T0COUNT2")
    assert health.status_counts(Workspace.objects.all())["total"] == 2  # not a minute later
    ws.health = Health.DEAD
    ws.save(update_fields=["health"])
    assert health.status_counts(Workspace.objects.all())["total"] == 2


def _settings_with(cache_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CACHE_URL"}
    env.update(DJANGO_DEBUG="true", CACHE_URL=cache_url)
    code = (
        "import django; django.setup(); from django.conf import settings;"
        "print(settings.CACHES['default']['BACKEND']); print(settings.CONFIGURATION_PROBLEMS)"
    )
    env["DJANGO_SETTINGS_MODULE"] = "slackinstall.settings"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("url", "backend", "problem"),
    [
        ("redis://127.0.0.1:6379/0", "django.core.cache.backends.redis.RedisCache", ""),
        ("", "django.core.cache.backends.locmem.LocMemCache", ""),
        (
            "memcache://127.0.0.1:11211",
            "django.core.cache.backends.locmem.LocMemCache",
            "CACHE_URL",
        ),
        ("redis://", "django.core.cache.backends.locmem.LocMemCache", "CACHE_URL"),
    ],
)
def test_cache_url_selects_djangos_own_redis_cache(url: str, backend: str, problem: str) -> None:
    result = _settings_with(url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == backend
    assert (problem in lines[1]) if problem else lines[1] == "[]"


@pytest.mark.django_db(transaction=True)
def test_two_instances_sharing_redis_see_one_set_of_counts(redis_url: str, settings: Any) -> None:
    use_redis_cache(settings, redis_url)
    try:
        Workspace.objects.create(client_id="1111.2222", team_id="T0REDIS1")
        assert health.status_counts(Workspace.objects.all())["total"] == 1
        keys = caches["default"]._cache.get_client().keys("*")  # type: ignore[attr-defined]
        assert keys and all(k.startswith(b"slackinstall:") for k in keys)
        assert any(f"installations:{__version__}:".encode() in k for k in keys)
        Workspace.objects.create(client_id="1111.2222", team_id="T0REDIS2")
        assert health.status_counts(Workspace.objects.all())["total"] == 2
    finally:
        cache.clear()
