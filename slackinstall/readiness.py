"""``GET /readyz``: may a load balancer send this instance traffic? (``/healthz``: is it alive?)

``/healthz`` stays cheap (the database answers ``SELECT 1``) so a liveness probe never restarts
an instance for a problem a restart cannot fix. Readiness also asks what this instance needs to
serve correctly next to the others: the shared cache takes a write and gives it back (a cache per
instance would still "work" and silently disagree), and the database has no migration this
release expects but was not applied (``make migrate`` not run yet: keep the old instances in
rotation). The answer is 200 or 503 with a bare status and nothing else: which check failed,
and why, goes to the log only (the endpoint is public behind the proxy).
"""

from __future__ import annotations

import logging
import secrets

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from installations.infrastructure.shared_cache import cache_key

logger = logging.getLogger(__name__)

_PROBE_SECONDS = 10


def database_ready() -> bool:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any database failure: not ready; detail in the log only
        logger.error("readiness: the database did not answer (%s)", type(exc).__name__)
        return False
    return True


def cache_ready() -> bool:
    """A unique value written and read back: proves the configured cache takes writes."""
    key, value = cache_key("readiness_probe", secrets.token_hex(8)), secrets.token_hex(8)
    try:
        cache.set(key, value, _PROBE_SECONDS)
        answered = cache.get(key)
        cache.delete(key)
    except Exception as exc:  # backend-specific errors (infrastructure/shared_cache.py)
        logger.error("readiness: the cache failed (%s)", type(exc).__name__)
        return False
    if answered != value:
        logger.error("readiness: the cache did not return what was just stored")
        return False
    return True


_migrated = False  # once applied, stays applied for this process's release: checked no more


def migrations_applied() -> bool:
    """True when every migration this release ships is applied (the plan to the leaves is empty)."""
    global _migrated
    if _migrated:
        return True
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:  # unreadable migration table: not ready
        logger.error("readiness: could not read the applied migrations (%s)", type(exc).__name__)
        return False
    if plan:
        logger.error(
            "readiness: %d migration(s) not applied (run make migrate once per deploy): %s",
            len(plan),
            ", ".join(f"{migration.app_label}.{migration.name}" for migration, _ in plan[:5]),
        )
        return False
    _migrated = True
    return True


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """200 {"status": "ready"} when database, cache and migrations are; else 503, no details."""
    # All three run every time, so the log names every problem at once.
    checks = [database_ready(), cache_ready(), migrations_applied()]
    if all(checks):
        return JsonResponse({"status": "ready"})
    return JsonResponse({"status": "unavailable"}, status=503)
