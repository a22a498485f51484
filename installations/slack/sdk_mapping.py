"""The value conversions between slack_sdk's data carriers (times as Unix seconds, scopes as
comma-separated text) and our columns; knows no table (rows: ``lifecycle.sdk_rows``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.utils import timezone


def as_datetime(value: Any) -> datetime | None:
    """slack_sdk carries times as Unix seconds, datetimes or None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(value), tz=UTC)


def as_unix(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def join_scopes(scopes: Any) -> str:
    if not scopes:
        return ""
    return scopes if isinstance(scopes, str) else ",".join(scopes)
