"""Every cache use of the app goes through here: versioned keys, and a cache that may fail.

Several instances share one cache (Redis, ``CACHE_URL``; docs/production.md), and during a
rolling deploy two releases share it at once. A key therefore names the app's release and the
shape of what is stored under it, so a new release never reads a value an older one wrote in
another shape (nor the other way round): bump ``CACHE_SHAPES`` when a cached value changes shape
within a release, the version in ``installations.__version__`` moves on with every release.

The cache only saves work: when it cannot be reached, the value is computed and served anyway
(logged once per call), and ``/readyz`` reports the cache as not ready.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import TypeVar

from django.core.cache import cache

from installations import __version__

logger = logging.getLogger(__name__)

# The shape of cached values in this release; bump when one changes.
CACHE_SHAPES = 1
NAMESPACE = f"installations:{__version__}:{CACHE_SHAPES}"

T = TypeVar("T")


def cache_key(name: str, *parts: object) -> str:
    """``installations:<release>:<shapes>:<name>[:<digest of parts>]``: short, fixed-size."""
    if not parts:
        return f"{NAMESPACE}:{name}"
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:32]
    return f"{NAMESPACE}:{name}:{digest}"


def get_or_compute(key: str, compute: Callable[[], T], timeout: int) -> T:
    """The cached value, or ``compute()`` stored for ``timeout`` seconds.

    A cache backend that fails (Redis unreachable, timed out) raises its own error family, which
    the app cannot name without importing the backend's client: any exception from the cache
    is logged by type and the value computed without it.
    """
    try:
        cached = cache.get(key)
    except Exception as exc:  # backend-specific errors: see the docstring
        logger.warning("cache unavailable (%s): computing %s directly", type(exc).__name__, key)
        return compute()
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    value = compute()
    try:
        cache.set(key, value, timeout)
    except Exception as exc:  # as above
        logger.warning("cache unavailable (%s): %s not stored", type(exc).__name__, key)
    return value
