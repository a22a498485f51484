"""``/readyz``: ready while the database answers and is migrated, whatever the shared cache does.

A cache outage reaches every instance at once and costs only speed, so readiness never counts
it: a Redis that refuses connections, or accepts them and never answers, leaves every instance
ready, and the probe does not wait on it. (Unapplied migrations answering 503 is proved with
real instances in tests/project/test_scale_multi_instance.py.)
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from tests.support.cache import use_redis_cache
from tests.support.servers import free_port

pytestmark = pytest.mark.django_db


def readyz() -> tuple[int, Any, float]:
    started = time.monotonic()
    answer = Client().get("/readyz", secure=True)
    return answer.status_code, json.loads(answer.content), time.monotonic() - started


@pytest.fixture
def silent_redis() -> Iterator[int]:
    """A port that accepts connections (the kernel does) and never answers."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        yield silent.getsockname()[1]
    finally:
        cache.close()
        silent.close()


def test_ready_with_the_database_migrated() -> None:
    assert readyz()[:2] == (200, {"status": "ready"})


def test_a_redis_that_refuses_connections_leaves_the_instance_ready(settings: Any) -> None:
    use_redis_cache(settings, f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=5)
    try:
        assert readyz()[:2] == (200, {"status": "ready"})
    finally:
        cache.close()


def test_a_redis_that_never_answers_neither_fails_nor_slows_the_probe(
    settings: Any, silent_redis: int
) -> None:
    use_redis_cache(
        settings, f"redis://127.0.0.1:{silent_redis}/0", socket_timeout=5, socket_connect_timeout=5
    )
    status, body, seconds = readyz()
    assert (status, body) == (200, {"status": "ready"})
    assert seconds < 2  # the cache's 5 s timeouts were never waited on
