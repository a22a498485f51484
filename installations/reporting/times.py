"""Times as staff read them: to the second, with the time zone, in the site's zone (history rows
are often seconds apart, and Django's admin format shows neither seconds nor zone)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

EMPTY = "—"
FORMAT = "%Y-%m-%d %H:%M:%S %Z"


def when(moment: datetime | None) -> str:
    """``2026-05-01 14:03:07 CEST`` in the current time zone; ``—`` for no time."""
    return EMPTY if moment is None else timezone.localtime(moment).strftime(FORMAT)


def when_html(moment: datetime | None) -> SafeString:
    """``when`` inside a ``<time datetime="...">`` element (machine-readable, UTC ISO 8601)."""
    if moment is None:
        return format_html("{}", EMPTY)
    iso = moment.astimezone(UTC).isoformat(timespec="seconds")
    return format_html('<time datetime="{}">{}</time>', iso, when(moment))
