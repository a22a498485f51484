"""Saving and reading installations: the one place that maps slack_sdk's data carriers to rows.

A completed flow updates the target's Workspace row in place and appends an Installation row
(history), in one transaction. Saving again with the same ``installed_at`` (a Bolt app re-saving
after token rotation) updates that history row instead of adding one.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.installation_store import Installation as SdkInstallation

from .fields import EncryptedDataError
from .models import Health, Installation, LifecycleEvent, Workspace

logger = logging.getLogger(__name__)


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


def record_event(
    workspace: Workspace | None,
    kind: str,
    actor: str,
    detail: str = "",
    *,
    slack_event_id: str = "",
    occurred_at: datetime | None = None,
) -> LifecycleEvent:
    return LifecycleEvent.objects.create(
        workspace=workspace,
        kind=kind,
        actor=actor,
        detail=detail[:255],
        slack_event_id=slack_event_id,
        occurred_at=occurred_at or timezone.now(),
    )


def _locked_workspace(client_id: str, enterprise_id: str, team_id: str) -> tuple[Workspace, bool]:
    """The target's row, locked for this transaction; created when missing (race-safe)."""
    key = {"client_id": client_id, "enterprise_id": enterprise_id, "team_id": team_id}
    found = Workspace.objects.select_for_update().filter(**key).first()
    if found is not None:
        return found, False
    try:
        with transaction.atomic():  # savepoint: a concurrent insert must not poison the outer one
            return Workspace.objects.create(**key), True
    except IntegrityError:
        return Workspace.objects.select_for_update().get(**key), False


@transaction.atomic
def save_installation(
    data: SdkInstallation, *, client_id: str, source: str, actor: str
) -> tuple[Workspace, Installation]:
    """Store one completed install (or a re-save of it) for ``client_id``."""
    enterprise_id, team_id = data.enterprise_id or "", data.team_id or ""
    installed_at = as_datetime(data.installed_at) or timezone.now()
    workspace, created = _locked_workspace(client_id, enterprise_id, team_id)

    same_flow = workspace.installations.filter(
        user_id=data.user_id or "", installed_at=installed_at
    ).first()
    newest = created or installed_at >= workspace.installed_at
    if newest or same_flow is not None:
        # A re-save carries the target's current bot (Bolt merges it in before rotating), so
        # its bot fields apply even when the user's row is older than the latest install.
        _apply_to_workspace(workspace, data, installed_at, fresh_install=same_flow is None)
        workspace.save()

    row = same_flow or Installation(workspace=workspace, source=source)
    _apply_to_installation(row, data, client_id, installed_at)
    if same_flow is None:
        superseded = workspace.installations.filter(user_id=row.user_id, is_current=True)
        if newest:
            # The user's older tokens are replaced by this flow's; history keeps scopes and times.
            superseded.update(is_current=False, user_token=None, user_refresh_token=None)
        else:
            row.is_current = False  # an older flow finishing late never displaces a newer one
    row.save()

    if same_flow is None:
        kind = LifecycleEvent.Kind.INSTALLED if created else LifecycleEvent.Kind.REINSTALLED
        scopes = join_scopes(data.bot_scopes) or "none"
        record_event(workspace, kind, actor, f"bot scopes: {scopes}", occurred_at=installed_at)
    logger.info(
        "saved installation team=%s enterprise=%s app=%s source=%s",
        team_id or "-",
        enterprise_id or "-",
        data.app_id or "-",
        source,
    )
    return workspace, row


def _apply_to_workspace(
    workspace: Workspace, data: SdkInstallation, installed_at: datetime, *, fresh_install: bool
) -> None:
    apply_bot(workspace, data)
    workspace.enterprise_url = data.enterprise_url or workspace.enterprise_url
    workspace.token_type = data.token_type or workspace.token_type
    if fresh_install:
        workspace.installer_user_id = data.user_id or workspace.installer_user_id
        # A new flow brings fresh tokens: earlier lifecycle marks no longer apply.
        workspace.installed_at = installed_at
        workspace.uninstalled_at = None
        workspace.refresh_failed_at = None
        workspace.verify_failures = 0
        workspace.last_error = ""
        workspace.health = Health.UNKNOWN


def _current_bot_token(workspace: Workspace) -> str | None:
    try:
        return workspace.bot_token
    except EncryptedDataError:
        return None


def apply_bot(workspace: Workspace, data: SdkInstallation | Bot) -> None:
    """Write a bot (slack_sdk's Bot, or the bot part of an Installation) onto its target."""
    workspace.app_id = data.app_id or workspace.app_id
    workspace.enterprise_name = data.enterprise_name or workspace.enterprise_name
    workspace.team_name = data.team_name or workspace.team_name
    workspace.is_enterprise_install = bool(data.is_enterprise_install)
    if data.bot_token:  # a user-only flow leaves the current bot as it is
        old_token = _current_bot_token(workspace)
        workspace.bot_token = data.bot_token
        workspace.bot_id = data.bot_id or workspace.bot_id
        workspace.bot_user_id = data.bot_user_id or workspace.bot_user_id
        workspace.bot_scopes = join_scopes(data.bot_scopes)
        workspace.bot_refresh_token = data.bot_refresh_token
        workspace.bot_token_expires_at = as_datetime(data.bot_token_expires_at)
        workspace.bot_revoked_at = None
        if data.bot_token != old_token:
            # A new live token (e.g. Bolt rotated it while our refresher lost the race for the
            # same refresh token) disproves an earlier refresh failure.
            workspace.refresh_failed_at = None


def _apply_to_installation(
    row: Installation, data: SdkInstallation, client_id: str, installed_at: datetime
) -> None:
    row.client_id = client_id
    row.app_id = data.app_id or ""
    row.enterprise_id = data.enterprise_id or ""
    row.enterprise_name = data.enterprise_name or ""
    row.enterprise_url = data.enterprise_url or ""
    row.team_id = data.team_id or ""
    row.team_name = data.team_name or ""
    row.is_enterprise_install = bool(data.is_enterprise_install)
    row.token_type = data.token_type or ""
    row.user_id = data.user_id or ""
    # Bolt re-saves an installation with user_token=None when the acting user is someone else
    # (slack_bolt authorize): that must not erase the installer's stored token.
    resave = row.pk is not None and not row._state.adding
    if data.user_token is not None or not resave:
        row.user_token = data.user_token
        row.user_refresh_token = data.user_refresh_token
        row.user_token_expires_at = as_datetime(data.user_token_expires_at)
    row.user_scopes = join_scopes(data.user_scopes) or row.user_scopes
    if not resave:  # history keeps the bot this flow granted, not today's merged-in bot
        row.bot_id = data.bot_id or ""
        row.bot_user_id = data.bot_user_id or ""
        row.bot_scopes = join_scopes(data.bot_scopes)
    row.incoming_webhook_url = data.incoming_webhook_url
    row.incoming_webhook_channel = data.incoming_webhook_channel or ""
    row.incoming_webhook_channel_id = data.incoming_webhook_channel_id or ""
    row.incoming_webhook_configuration_url = data.incoming_webhook_configuration_url or ""
    row.installed_at = installed_at
    row.custom_values = dict(data.custom_values or {})


def to_sdk_bot(workspace: Workspace) -> Bot | None:
    """The workspace's current bot as slack_sdk's Bot, or None when it has no live bot token."""
    if workspace.bot_token is None or workspace.uninstalled_at or workspace.bot_revoked_at:
        return None
    return Bot(
        app_id=workspace.app_id or None,
        enterprise_id=workspace.enterprise_id or None,
        enterprise_name=workspace.enterprise_name or None,
        team_id=workspace.team_id or None,
        team_name=workspace.team_name or None,
        bot_token=workspace.bot_token,
        bot_id=workspace.bot_id,
        bot_user_id=workspace.bot_user_id,
        bot_scopes=workspace.bot_scopes,
        bot_refresh_token=workspace.bot_refresh_token,
        bot_token_expires_at=as_unix(workspace.bot_token_expires_at),
        is_enterprise_install=workspace.is_enterprise_install,
        installed_at=workspace.installed_at.timestamp(),
    )


def to_sdk_installation(row: Installation, workspace: Workspace) -> SdkInstallation:
    """A history row with the workspace's current bot merged in (as slack_sdk's stores do)."""
    bot = to_sdk_bot(workspace)
    user_alive = row.user_token_revoked_at is None and row.deleted_at is None
    return SdkInstallation(
        app_id=row.app_id or None,
        enterprise_id=row.enterprise_id or None,
        enterprise_name=row.enterprise_name or None,
        enterprise_url=row.enterprise_url or workspace.enterprise_url or None,
        team_id=row.team_id or None,
        team_name=row.team_name or None,
        bot_token=bot.bot_token if bot else None,
        bot_id=bot.bot_id if bot else None,
        bot_user_id=bot.bot_user_id if bot else None,
        bot_scopes=bot.bot_scopes if bot else row.bot_scopes,
        bot_refresh_token=bot.bot_refresh_token if bot else None,
        bot_token_expires_at=bot.bot_token_expires_at if bot else None,
        user_id=row.user_id,
        user_token=row.user_token if user_alive else None,
        user_scopes=row.user_scopes,
        user_refresh_token=row.user_refresh_token if user_alive else None,
        user_token_expires_at=as_unix(row.user_token_expires_at),
        incoming_webhook_url=row.incoming_webhook_url,
        incoming_webhook_channel=row.incoming_webhook_channel or None,
        incoming_webhook_channel_id=row.incoming_webhook_channel_id or None,
        incoming_webhook_configuration_url=row.incoming_webhook_configuration_url or None,
        is_enterprise_install=row.is_enterprise_install,
        token_type=row.token_type or None,
        installed_at=row.installed_at.timestamp(),
        custom_values=row.custom_values or None,
    )
