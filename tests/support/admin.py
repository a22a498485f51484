"""Helpers for the audit tests: times in the past, the secrets an install handed out, and
workspaces read through the health annotations (typed).

The fixtures that build audit rows and staff clients (``audit_workspace``, ``audit_staff``, ...)
are in tests/conftest.py: the admin, reporting, app and project folders all use them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypedDict, cast

from django.utils import timezone
from slack_sdk.oauth.installation_store import Installation as SdkInstallation

from installations.models import Workspace
from installations.reporting import health

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from django_stubs_ext import WithAnnotations


class HealthFlags(TypedDict):
    """The annotations of ``health.with_health`` that tests read as attributes."""

    needs_reinstall: bool
    reason_missing_bot_scopes: bool


class UserTokensFlag(TypedDict):
    """The annotation ``health.with_user_tokens`` adds."""

    has_user_tokens: bool


def health_row(workspace: Workspace) -> WithAnnotations[Workspace, HealthFlags]:
    """``workspace`` read back through ``health.with_health``, its annotations typed."""
    row = health.with_health(Workspace.objects.filter(pk=workspace.pk)).get()
    return cast("WithAnnotations[Workspace, HealthFlags]", row)


def with_user_tokens(
    queryset: QuerySet[Workspace],
) -> QuerySet[WithAnnotations[Workspace, UserTokensFlag]]:
    """``health.with_user_tokens``, its annotation typed."""
    return cast(
        "QuerySet[WithAnnotations[Workspace, UserTokensFlag]]", health.with_user_tokens(queryset)
    )


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
