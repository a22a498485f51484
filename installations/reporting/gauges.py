"""What ``/metrics`` reports about the data: workspaces by status and by reinstall reason
(cached like the admin's counts), and when each scheduled job last ran."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Q

from installations.conf import slack_config
from installations.encryption.fields import configured_kids
from installations.models import JobRun, Workspace
from installations.reporting.health import (
    REASONS,
    STATUS_FILTERS,
    cached_with_history,
    with_health,
)

STATUSES = ("active", "needs_reinstall", "unreadable")
REASON_NAMES = tuple(name.removeprefix("reason_") for name in REASONS)


def workspace_counts() -> dict[str, int]:
    """One count per status (``active``, ``needs_reinstall``, ``unreadable``) and per reason
    (``uninstalled``, ``token_dead``, ...): a workspace with several reasons counts under each."""

    def count() -> dict[str, int]:
        # Aggregate names must differ from the annotations they count (with_health's).
        wanted = {f"n_{name}": STATUS_FILTERS[name] for name in STATUSES}
        wanted.update({f"n_{field}": Q(**{field: True}) for field in REASONS})
        counts = with_health(Workspace.objects.order_by()).aggregate(
            **{name: Count("pk", filter=condition) for name, condition in wanted.items()}
        )
        return {
            name.removeprefix("n_").removeprefix("reason_"): int(value)
            for name, value in counts.items()
        }

    config = slack_config()
    parts = (config.scopes, config.user_scopes, configured_kids())
    return cached_with_history("workspace_gauges", parts, count, valid_counts)


def valid_counts(value: object) -> dict[str, int] | None:
    """Cached counts as ``workspace_counts`` stores them, or None (a wrong shape is a miss)."""
    names = {*STATUSES, *REASON_NAMES}
    if not isinstance(value, dict) or set(value) != names:
        return None
    if not all(type(value[name]) is int and value[name] >= 0 for name in names):
        return None
    return value


def job_runs() -> list[tuple[str, datetime | None, datetime, bool]]:
    """(job, last success, last finish, last run failed) for every job that ever ran."""
    return list(
        JobRun.objects.order_by("job").values_list(
            "job", "last_succeeded_at", "last_finished_at", "last_failed"
        )
    )
