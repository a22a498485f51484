"""Per-session database settings, applied right after Django opens a connection.

PostgreSQL's JIT slows the admin's health counts: ``SET jit = off`` on every new connection
(poolers refuse it as a startup parameter; see docs/production.md).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper


def turn_off_jit(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """connection_created receiver: ``SET jit = off`` on PostgreSQL, nothing elsewhere."""
    if connection.vendor != "postgresql" or not getattr(settings, "POSTGRES_SET_JIT_OFF", True):
        return
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")
