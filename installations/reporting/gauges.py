"""What ``/metrics`` reports about the data: workspaces by status and by reinstall reason, and
when each scheduled job last ran.

The workspace counts are one aggregate query, cached like the admin's counters (a minute, and
moved on by any change to the history), so a scrape every few seconds costs no full scan.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Q

from installations.conf import slack_config
from installations.infrastructure.shared_cache import cache_key, get_or_compute
from installations.models import JobRun, Workspace
from installations.reporting.health import (
    COUNTS_CACHE_SECONDS,
    REASONS,
    history_generation,
    with_health,
)


def workspace_counts() -> dict[str, int]:
    """``total``, ``needs_reinstall``, ``active`` and one count per reason (``uninstalled``,
    ``token_dead``, ...): a workspace with several reasons counts under each."""
    config = slack_config()
    key = cache_key("workspace_gauges", history_generation(), config.scopes, config.user_scopes)

    def count() -> dict[str, int]:
        # Aggregate names must differ from the annotations they count (with_health's).
        per_reason = {"n_" + field: Count("pk", filter=Q(**{field: True})) for field in REASONS}
        counts = with_health(Workspace.objects.order_by()).aggregate(
            n_total=Count("pk"), n_needs=Count("pk", filter=Q(needs_reinstall=True)),
            **per_reason,
        )  # fmt: skip
        result = {
            name.removeprefix("n_").removeprefix("reason_"): int(value)
            for name, value in counts.items()
        }
        result["needs_reinstall"] = result.pop("needs")
        result["active"] = result["total"] - result["needs_reinstall"]
        return result

    return get_or_compute(key, count, COUNTS_CACHE_SECONDS)


def job_runs() -> list[tuple[str, datetime | None, datetime, bool]]:
    """(job, last success, last finish, last run failed) for every job that ever ran."""
    return list(
        JobRun.objects.order_by("job").values_list(
            "job", "last_succeeded_at", "last_finished_at", "last_failed"
        )
    )
