"""``GET /readyz``: may a load balancer send this instance traffic? (``/healthz``: is it alive?)

``/healthz`` stays cheap (the database answers ``SELECT 1``) so a liveness probe never restarts
an instance for a problem a restart cannot fix. Readiness also asks whether the database has
every migration this release expects (``make migrate`` not run yet: keep the old instances in
rotation). The shared cache is not asked: pages work without it (values are computed afresh),
and an outage reaches every instance at once, so counting it here would take the whole site out
of rotation for what costs only speed (its failures are counted in /metrics and alerted on).
The answer is 200 or 503 with a bare status and nothing else: which check failed, and why, goes
to the log only (the endpoint is public behind the proxy).
"""

from __future__ import annotations

import logging

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)


def database_ready() -> bool:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any database failure: not ready; detail in the log only
        logger.error("readiness: the database did not answer (%s)", type(exc).__name__)
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


@require_safe
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """200 {"status": "ready"} when the database answers and is migrated; else 503, no details."""
    if database_ready() and migrations_applied():
        return JsonResponse({"status": "ready"})
    return JsonResponse({"status": "unavailable"}, status=503)
