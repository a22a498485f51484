"""Per-session database settings, applied right after Django opens a connection.

PostgreSQL's JIT makes the admin's health counts of a large table far slower, so ``SET jit =
off`` runs on every new connection (not a startup parameter, which poolers such as PgBouncer
refuse). Behind a pooler in transaction mode a SET may land on another server connection:
there, prefer ``ALTER ROLE ... SET jit = off`` (docs/production.md) and set
DJANGO_POSTGRES_SET_JIT_OFF=false.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper


def turn_off_jit(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """connection_created receiver: ``SET jit = off`` on PostgreSQL, nothing elsewhere."""
    if connection.vendor != "postgresql":
        return
    if not getattr(settings, "POSTGRES_SET_JIT_OFF", True):
        return
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")
