"""The Enterprise Grid orgs the workspace list can be narrowed to, cached.

The DISTINCT grows with the table and the sidebar asks on every page: it is cached under the
history's generation, like the status counts, so every instance sees a change on its next page.
"""

from __future__ import annotations

from installations.models import Workspace
from installations.reporting.health import cached_with_history

CHOICES_SHOWN = 200  # a sidebar, not a report


def enterprise_choices() -> list[tuple[str, str]]:
    """("none", "Not on Enterprise Grid") and up to 200 (enterprise id, "name (id)") pairs."""
    return cached_with_history("enterprise_choices", (), _choices, valid_choices)


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
