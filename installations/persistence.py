"""Saving installations: one transaction per completed flow, history kept, lifecycle recorded.

A completed flow updates the target's Workspace row in place and appends an Installation row
(history), in one transaction. Saving again with the same ``installed_at`` (a Bolt app re-saving
after token rotation) updates that history row instead of adding one.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.installation_store import Installation as SdkInstallation

from .fields import EncryptedDataError
from .models import Health, Installation, LifecycleEvent, Workspace
from .sdk_mapping import as_datetime, join_scopes

logger = logging.getLogger(__name__)


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
