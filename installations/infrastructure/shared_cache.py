"""Every cache use of the app goes through here: versioned keys, checked values, and a cache that
may fail, hang or hold anything.

Keys name the release and ``CACHE_SHAPES``, so no release reads another's values; a value
``validate`` refuses or that cannot be unpickled is a miss; any other error opens a per-process
circuit breaker, so a hanging cache costs one socket timeout per ``BREAK_SECONDS``.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import pickle
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import cache
from django.core.signals import setting_changed
from django.dispatch import receiver

from installations import __version__
from installations.observability import metrics

logger = logging.getLogger(__name__)

# The shape of cached values in this release; bump when one changes.
CACHE_SHAPES = 1
NAMESPACE = f"installations:{__version__}:{CACHE_SHAPES}"
BREAK_SECONDS = 30.0

# What unpickling arbitrary bytes raises: a value nobody can use, not a cache that is down.
UNREADABLE_VALUE_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    ImportError,
    IndexError,
    KeyError,
    UnicodeError,
    OverflowError,
)

T = TypeVar("T")
Validator = Callable[[Any], "T | None"]


class CircuitBreaker:
    """Skips the cache for ``seconds`` after it failed; then lets one call (one thread) try it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._skip_until = 0.0
        self._failed = False

    def allows(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if now < self._skip_until:
                return False
            if self._failed:  # this call is the interval's one try; the others skip meanwhile
                self._skip_until = now + self.seconds
            return True

    def failed(self) -> None:
        with self._lock:
            self._failed = True
            self._skip_until = time.monotonic() + self.seconds

    def succeeded(self) -> None:
        with self._lock:
            self._failed = False
            self._skip_until = 0.0

    @property
    def is_open(self) -> bool:
        with self._lock:
            return time.monotonic() < self._skip_until


breaker = CircuitBreaker(BREAK_SECONDS)


@receiver(setting_changed)
def _new_cache_new_breaker(*, setting: str, **kwargs: Any) -> None:
    """Tests that switch CACHES start with a closed breaker."""
    if setting == "CACHES":
        breaker.succeeded()


def cache_key(name: str, *parts: object) -> str:
    """``installations:<release>:<shapes>:<name>[:<digest of parts>]``: short, fixed-size."""
    if not parts:
        return f"{NAMESPACE}:{name}"
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:32]
    return f"{NAMESPACE}:{name}:{digest}"


class Lookup(enum.Enum):
    HIT = "hit"
    MISS = "miss"
    UNUSABLE = "unusable"  # something is stored, of no use: overwrite it
    UNAVAILABLE = "unavailable"  # the cache failed or is being skipped: do not call it again


def _call(operation: str, key: str, call: Callable[[], Any]) -> tuple[Lookup, Any]:
    """(HIT, what the cache answered), UNUSABLE when that could not be unpickled, or
    UNAVAILABLE when the cache is being skipped or just failed (the breaker opens)."""
    if not breaker.allows():
        metrics.cache_failed("skipped")
        return Lookup.UNAVAILABLE, None
    try:
        answer = call()
    except UNREADABLE_VALUE_ERRORS as exc:
        breaker.succeeded()  # the cache answered; what it holds cannot be read
        logger.warning("cache value unreadable (%s) under %s: recomputed", type(exc).__name__, key)
        return Lookup.UNUSABLE, None
    except Exception as exc:  # backend-specific errors: see the module docstring
        breaker.failed()
        metrics.cache_failed(operation)
        logger.warning(
            "cache unavailable (%s) on %s of %s: skipped for %.0f s",
            type(exc).__name__,
            operation,
            key,
            breaker.seconds,
        )
        return Lookup.UNAVAILABLE, None
    breaker.succeeded()
    return Lookup.HIT, answer


def lookup(key: str, validate: Validator[T]) -> tuple[Lookup, T | None]:
    """What the cache holds under ``key``, as ``validate`` accepts it (see ``Lookup``)."""
    found, raw = _call("get", key, lambda: cache.get(key))
    if found is not Lookup.HIT:
        return found, None
    if raw is None:
        return Lookup.MISS, None
    value = validate(raw)
    if value is None:
        logger.warning("cache value of the wrong shape under %s: recomputed", key)
        return Lookup.UNUSABLE, None
    return Lookup.HIT, value


def read(key: str, validate: Validator[T]) -> T | None:
    """The valid cached value, or None (a miss, a wrong shape, or no cache just now)."""
    return lookup(key, validate)[1]


def write(key: str, value: object, timeout: float | None) -> None:
    """Store ``value`` for ``timeout`` seconds (None: until evicted), or skip it quietly."""
    _call("set", key, lambda: cache.set(key, value, timeout))


def get_or_compute(key: str, compute: Callable[[], T], timeout: int, validate: Validator[T]) -> T:
    """The valid cached value, or ``compute()`` stored for ``timeout`` seconds (a None result is
    not stored: the next call computes again)."""
    found, cached = lookup(key, validate)
    if found is Lookup.HIT and cached is not None:
        return cached
    value = compute()
    if value is not None and found is not Lookup.UNAVAILABLE:
        write(key, value, timeout)
    return value


def _is_generation(value: Any) -> int | None:
    return value if type(value) is int and value > 0 else None


def generation(key: str) -> int | None:
    """A number under ``key`` that ``bump_generation`` moves on, part of the key of anything
    cached from what it counts; None (cache nothing) when the cache is unavailable."""
    found, value = lookup(key, _is_generation)
    if found is Lookup.HIT and value is not None:
        return value
    if found is Lookup.UNAVAILABLE:
        return None
    fresh = _new_generation()
    if found is Lookup.UNUSABLE:
        write(key, fresh, None)
        return fresh
    outcome, added = _call("add", key, lambda: cache.add(key, fresh, None))
    if outcome is not Lookup.HIT:
        return None
    return fresh if added else read(key, _is_generation)  # else another instance's, added first


def bump_generation(key: str) -> None:
    """A new random generation under ``key`` (not INCR: no older generation can come back)."""
    write(key, _new_generation(), None)


def _new_generation() -> int:
    return secrets.randbits(62) + 1
