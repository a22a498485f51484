"""The Enterprise Grid orgs the workspace list can be narrowed to, cached for a minute (the
sidebar asks on every page)."""

from __future__ import annotations

from installations.infrastructure.shared_cache import cache_key, get_or_compute
from installations.models import Workspace

CHOICES_SHOWN = 200  # a sidebar, not a report
CACHE_SECONDS = 60


def enterprise_choices() -> list[tuple[str, str]]:
    """("none", "Not on Enterprise Grid") and up to 200 (enterprise id, "name (id)") pairs."""
    return get_or_compute(cache_key("enterprise_choices"), _choices, CACHE_SECONDS, valid_choices)


def valid_choices(value: object) -> list[tuple[str, str]] | None:
    """Cached choices as ``_choices`` returns them, or None (a wrong shape is a miss)."""
    if not isinstance(value, list) or not 1 <= len(value) <= CHOICES_SHOWN + 1:
        return None
    pairs = all(
        isinstance(pair, tuple) and len(pair) == 2 and all(type(p) is str for p in pair)
        for pair in value
    )
    return value if pairs and value[0][0] == "none" else None


def _choices() -> list[tuple[str, str]]:
    rows = (
        Workspace.objects.exclude(enterprise_id="")
        .order_by("enterprise_id")
        .values_list("enterprise_id", "enterprise_name")
        .distinct()
    )
    names: dict[str, str] = {}
    for enterprise_id, name in rows[:CHOICES_SHOWN]:
        names.setdefault(enterprise_id, f"{name} ({enterprise_id})" if name else enterprise_id)
    return [("none", "Not on Enterprise Grid"), *names.items()]
