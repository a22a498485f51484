"""Helpers for the audit tests: times in the past, and the secrets an install handed out.

The fixtures that build audit rows and staff clients (``audit_workspace``, ``audit_staff``, ...)
are in tests/conftest.py: the admin, reporting, app and project folders all use them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from slack_sdk.oauth.installation_store import Installation as SdkInstallation


def remember_secrets(found: list[str], data: SdkInstallation) -> None:
    """Add every token and webhook URL of ``data`` to ``found`` (for leak scans)."""
    for value in (
        data.bot_token,
        data.bot_refresh_token,
        data.user_token,
        data.user_refresh_token,
        data.incoming_webhook_url,
    ):
        if value:
            found.append(value)


def past(**delta: float) -> Any:
    return timezone.now() - timedelta(**delta)
