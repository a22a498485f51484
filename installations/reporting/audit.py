"""One audit row per workspace, in plain values: shared by the CSV export and the command.

Rows carry ids, names, scopes, times and status only; no encrypted attribute is touched.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from installations.encryption.fields import configured_kids
from installations.models import Workspace
from installations.reporting import health

COLUMNS: tuple[tuple[str, str], ...] = (
    ("workspace", "Workspace"),
    ("team_id", "Team id"),
    ("enterprise_id", "Enterprise id"),
    ("enterprise_name", "Enterprise"),
    ("install_type", "Install type"),
    ("status", "Status"),
    ("reasons", "Reasons"),
    ("missing_scopes", "Missing scopes"),
    ("granted_bot_scopes", "Granted bot scopes"),
    ("installer", "Installer"),
    ("installed_at", "Installed"),
    ("token_expires_at", "Token expires"),
    ("last_verified_at", "Last verified"),
    ("health", "Health"),
)


def audit_queryset(*, status: str | None = None) -> QuerySet[Workspace]:
    """Every workspace with its status annotations, newest first (``status``: STATUS_FILTERS)."""
    queryset = health.with_health(Workspace.objects.order_by("-installed_at", "team_id"))
    return queryset if status is None else health.filter_status(queryset, status)


def _when(value: datetime | None) -> str:
    """ISO 8601 in the current time zone (the admin's); "" when unknown."""
    return timezone.localtime(value).isoformat(timespec="seconds") if value else ""


def audit_row(workspace: Workspace) -> dict[str, Any]:
    """A workspace from ``health.with_health`` as plain JSON-ready values."""
    return {
        "workspace": str(workspace),
        "team_id": workspace.team_id,
        "enterprise_id": workspace.enterprise_id,
        "enterprise_name": workspace.enterprise_name,
        "install_type": workspace.install_type,
        "status": health.status(workspace),
        "reasons": health.reasons(workspace),
        "missing_scopes": health.missing_scopes(workspace),
        "granted_bot_scopes": workspace.bot_scope_list,
        "installer": workspace.installer_user_id,
        "installed_at": _when(workspace.installed_at),
        "token_expires_at": _when(workspace.bot_token_expires_at),
        "last_verified_at": _when(workspace.last_verified_at),
        "health": workspace.get_health_display(),
        # Key ids only, never a value: what this process lacks to read the tokens, and has.
        "needed_key_ids": health.needed_kids(workspace),
        "configured_key_ids": list(configured_kids()),
    }


def as_text(value: Any) -> str:
    """A cell for a table or CSV: lists joined with commas."""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    return str(value)


def to_csv(rows: Iterable[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([label for _, label in COLUMNS])
    writer.writerows([safe_cell(as_text(row[key])) for key, _ in COLUMNS] for row in rows)
    return buffer.getvalue()


# What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection"): these first
# characters, also after leading whitespace, and their compatibility forms (fullwidth U+FF1D = and
# its kin, small and super/subscript signs), which NFKC folds onto them.
FORMULA_TRIGGERS = frozenset("=+-@")
LEADING_CONTROLS = frozenset("\t\r\n")


def safe_cell(text: str) -> str:
    """The cell with a leading ``'`` when a spreadsheet could read it as a formula."""
    folded = unicodedata.normalize("NFKC", text).lstrip()
    if text[:1] in LEADING_CONTROLS or folded[:1] in FORMULA_TRIGGERS:
        return "'" + text
    return text


TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("workspace", "WORKSPACE"),
    ("install_type", "TYPE"),
    ("status_and_reasons", "STATUS"),
    ("missing_scopes", "MISSING SCOPES"),
    ("installed_at", "INSTALLED"),
    ("last_verified_at", "LAST VERIFIED"),
)


def to_table(rows: Iterable[dict[str, Any]]) -> list[str]:
    """Aligned text lines, one per workspace, for a terminal."""
    cells = [[label for _, label in TABLE_COLUMNS]]
    for row in rows:
        reasons = "; ".join(row["reasons"])
        status = f"{row['status']} ({reasons})" if reasons else row["status"]
        row = {**row, "status_and_reasons": status}
        cells.append([as_text(row[key]) or "-" for key, _ in TABLE_COLUMNS])
    widths = [max(len(line[i]) for line in cells) for i in range(len(TABLE_COLUMNS))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in cells
    ]
