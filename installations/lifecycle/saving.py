"""Saving installations: one transaction per completed flow, history kept, lifecycle recorded.

A completed flow updates the target's Workspace row and appends an Installation row (history);
saving again with the same ``installed_at`` (Bolt re-saving after rotation) updates that row.

Re-saves never undo a revocation that landed between Bolt's read and its save: a revocation
reached a flow's tokens when ``revoked_at`` + 1 s is later than its ``installed_at`` (Slack's
event times have whole seconds). Such a re-save writes no token pair over the mark, clears no
mark and writes no incoming-webhook URL; what was refused is logged at INFO. A new flow carries
fresh tokens: when it is the target's latest it clears the marks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.installation_store import Installation as SdkInstallation

from installations import signals
from installations.encryption.fields import EncryptedDataError, has_stored_value
from installations.models import Health, Installation, LifecycleEvent, Workspace
from installations.slack.sdk_mapping import as_datetime, join_scopes

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

logger = logging.getLogger(__name__)

# Slack's event_time has whole seconds: an event in an install's own second counts as after it.
EVENT_TIME_RESOLUTION = timedelta(seconds=1)


def record_event(
    workspace: Workspace | None,
    kind: str,
    actor: str,
    detail: str = "",
    *,
    slack_event_id: str = "",
    occurred_at: datetime | None = None,
) -> LifecycleEvent:
    event = LifecycleEvent.objects.create(
        workspace=workspace,
        kind=kind,
        actor=actor,
        detail=detail[:255],
        slack_event_id=slack_event_id,
        occurred_at=occurred_at or timezone.now(),
    )
    signals.lifecycle_recorded(workspace, str(kind), actor, detail)
    return event


def _locked_workspace(
    client_id: str, enterprise_id: str, team_id: str, fill_new: Callable[[Workspace], object]
) -> tuple[Workspace, bool]:
    """The target's row, locked for this transaction; created when missing (race-safe), filled
    by ``fill_new`` first, so a new row is written whole and its post_save carries it."""
    key = {"client_id": client_id, "enterprise_id": enterprise_id, "team_id": team_id}
    try:  # get(), not first(): the key is unique, so no ORDER BY to compile on every save
        return Workspace.objects.select_for_update().get(**key), False
    except Workspace.DoesNotExist:
        pass
    row = Workspace(**key)
    fill_new(row)
    try:
        with transaction.atomic():  # savepoint: a concurrent insert must not poison the outer one
            row.save(force_insert=True)
            return row, True
    except IntegrityError:  # another flow created it first: this one goes the way of a reinstall
        return Workspace.objects.select_for_update().get(**key), False


def reached_flow(revoked_at: datetime | None, installed_at: datetime) -> bool:
    """Whether a revocation at ``revoked_at`` reached the tokens of the flow installed at
    ``installed_at`` and every token rotated from them."""
    return revoked_at is not None and revoked_at + EVENT_TIME_RESOLUTION > installed_at


def _latest_reaching(installed_at: datetime, *marks: datetime | None) -> datetime | None:
    reaching = [mark for mark in marks if mark is not None and reached_flow(mark, installed_at)]
    return max(reaching, default=None)


@dataclass(frozen=True)
class Revoked:
    """The revocations a re-save must leave standing (bot pair, user pair); a new flow gets
    ``Revoked()``."""

    bot: datetime | None = None
    user: datetime | None = None
    uninstalled: bool = False

    @classmethod
    def bot_of(cls, workspace: Workspace, installed_at: datetime) -> Revoked:
        """What reached the target's bot, for a bot re-saved from the flow at ``installed_at``."""
        bot = _latest_reaching(installed_at, workspace.uninstalled_at, workspace.bot_revoked_at)
        return cls(bot=bot, uninstalled=reached_flow(workspace.uninstalled_at, installed_at))

    @classmethod
    def resave_of(cls, workspace: Workspace, row: Installation, installed_at: datetime) -> Revoked:
        """What reached the tokens of the stored flow ``row`` and the target's bot."""
        bot = cls.bot_of(workspace, installed_at)
        user = _latest_reaching(
            installed_at, workspace.uninstalled_at, row.deleted_at, row.user_token_revoked_at
        )
        return cls(bot=bot.bot, user=user, uninstalled=bot.uninstalled)

    def why(self, revoked_at: datetime) -> str:
        kind = "app uninstalled" if self.uninstalled else "revoked"
        return f"{kind} at {revoked_at.isoformat()}"


def log_refused(workspace: Workspace, installed_at: datetime, refused: list[str]) -> None:
    """One INFO line naming what a re-save was refused: fields and times, never a value."""
    if refused:
        logger.info(
            "re-save of team=%s enterprise=%s (flow installed %s) left revocations standing: "
            "refused %s",
            workspace.team_id or "-",
            workspace.enterprise_id or "-",
            installed_at.isoformat(),
            "; ".join(refused),
        )


def installed_detail(data: SdkInstallation) -> str:
    """The lifecycle event's detail for a completed flow."""
    return f"bot scopes: {join_scopes(data.bot_scopes) or 'none'}"[:255]


@transaction.atomic
def save_installation(
    data: SdkInstallation,
    *,
    client_id: str,
    source: str,
    actor: str,
    installed_by: AbstractBaseUser | None = None,
) -> tuple[Workspace, Installation]:
    """Store one completed install (or a re-save of it) for ``client_id``, in one transaction,
    the target's row locked first as revocation.py locks it: a revocation lands wholly before
    this save (and is seen here) or wholly after it."""
    enterprise_id, team_id = data.enterprise_id or "", data.team_id or ""
    installed_at = as_datetime(data.installed_at) or timezone.now()
    refused: list[str] = []

    def fill_new(new: Workspace) -> None:  # a first install: no history, nothing revoked
        refused.extend(
            _apply_to_workspace(new, data, installed_at, fresh_install=True, revoked=Revoked())
        )

    workspace, created = _locked_workspace(client_id, enterprise_id, team_id, fill_new)
    same_flow = (
        None
        if created
        else workspace.installations.filter(
            user_id=data.user_id or "", installed_at=installed_at
        ).first()
    )
    revoked = (
        Revoked() if same_flow is None else Revoked.resave_of(workspace, same_flow, installed_at)
    )
    newest = created or installed_at >= workspace.installed_at
    if not created and (newest or same_flow is not None):
        # A re-save carries the target's current bot, so its bot fields apply even when the
        # user's row is older than the latest install.
        refused += _apply_to_workspace(
            workspace, data, installed_at, fresh_install=same_flow is None, revoked=revoked
        )
        workspace.save()

    row = same_flow or Installation(workspace=workspace, source=source)
    if same_flow is None and installed_by is not None and installed_by.pk is not None:
        row.installed_by_id = installed_by.pk  # the host site's user who ran the flow
    refused += _apply_to_installation(row, data, client_id, installed_at, revoked=revoked)
    if same_flow is None and newest and not created:
        # The user's older tokens are replaced by this flow's; history keeps scopes and times.
        workspace.installations.filter(user_id=row.user_id, is_current=True).update(
            is_current=False, user_token=None, user_refresh_token=None
        )
    elif same_flow is None and not newest:
        row.is_current = False  # an older flow finishing late never displaces a newer one
    row.save()

    if same_flow is None:
        kind = LifecycleEvent.Kind.INSTALLED if created else LifecycleEvent.Kind.REINSTALLED
        record_event(workspace, kind, actor, installed_detail(data), occurred_at=installed_at)
    log_refused(workspace, installed_at, refused)
    logger.info(
        "saved installation team=%s enterprise=%s app=%s source=%s",
        data.team_id or "-", data.enterprise_id or "-", data.app_id or "-", source,
    )  # fmt: skip
    return workspace, row


def _apply_to_workspace(
    workspace: Workspace,
    data: SdkInstallation,
    installed_at: datetime,
    *,
    fresh_install: bool,
    revoked: Revoked,
) -> list[str]:
    refused = apply_bot(workspace, data, revoked=revoked)
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
    return refused


def _differs_from_stored_bot_token(workspace: Workspace, token: str) -> bool:
    """Whether ``token`` is not the stored bot token; True (logged at ERROR) when the stored one
    is unreadable: clearing ``refresh_failed_at`` costs at most one more refresh attempt, while
    keeping it could leave a live new token the refresher skips forever."""
    try:
        return workspace.bot_token != token
    except EncryptedDataError as exc:
        logger.error(
            "saving a bot token for team=%s enterprise=%s: the stored one cannot be read here "
            "(%s.%s, %s; %s); the new token is saved, nothing else is erased or flagged",
            workspace.team_id or "-",
            workspace.enterprise_id or "-",
            exc.label,
            exc.field,
            exc.reason,
            exc.key_problem,
        )
        return True


def apply_bot(
    workspace: Workspace, data: SdkInstallation | Bot, *, revoked: Revoked | None = None
) -> list[str]:
    """Write a bot (slack_sdk's Bot, or an Installation's bot) onto its target; with
    ``revoked.bot`` set the token pair is refused. Returns what was refused."""
    workspace.app_id = data.app_id or workspace.app_id
    workspace.enterprise_name = data.enterprise_name or workspace.enterprise_name
    workspace.team_name = data.team_name or workspace.team_name
    workspace.is_enterprise_install = bool(data.is_enterprise_install)
    if not data.bot_token:  # a user-only flow leaves the current bot as it is
        return []
    if revoked is not None and revoked.bot is not None:
        return [f"bot token and refresh token ({revoked.why(revoked.bot)})"]
    new_token = _differs_from_stored_bot_token(workspace, data.bot_token)
    workspace.bot_token = data.bot_token
    workspace.bot_id = data.bot_id or workspace.bot_id
    workspace.bot_user_id = data.bot_user_id or workspace.bot_user_id
    workspace.bot_scopes = join_scopes(data.bot_scopes)
    workspace.bot_refresh_token = data.bot_refresh_token
    workspace.bot_token_expires_at = as_datetime(data.bot_token_expires_at)
    workspace.bot_revoked_at = None
    if new_token:
        # A new live token disproves an earlier refresh failure.
        workspace.refresh_failed_at = None
    return []


def _apply_to_installation(
    row: Installation,
    data: SdkInstallation,
    client_id: str,
    installed_at: datetime,
    *,
    revoked: Revoked,
) -> list[str]:
    refused: list[str] = []
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
    if resave and data.user_token is not None and revoked.user is not None:
        refused.append(f"user token of {row.user_id or '-'} ({revoked.why(revoked.user)})")
    elif data.user_token is not None or not resave:
        row.user_token = data.user_token
        row.user_refresh_token = data.user_refresh_token
        row.user_token_expires_at = as_datetime(data.user_token_expires_at)
    row.user_scopes = join_scopes(data.user_scopes) or row.user_scopes
    # History keeps the bot and webhook this flow granted; a re-save keeps what is stored (a
    # NULL webhook was erased by an uninstall or a staff revoke).
    if not resave:
        row.bot_id = data.bot_id or ""
        row.bot_user_id = data.bot_user_id or ""
        row.bot_scopes = join_scopes(data.bot_scopes)
        row.incoming_webhook_url = data.incoming_webhook_url
        row.incoming_webhook_channel = data.incoming_webhook_channel or ""
        row.incoming_webhook_channel_id = data.incoming_webhook_channel_id or ""
        row.incoming_webhook_configuration_url = data.incoming_webhook_configuration_url or ""
    elif data.incoming_webhook_url and not has_stored_value(row, "incoming_webhook_url"):
        refused.append(f"incoming webhook URL of {row.user_id or '-'} (erased since the flow)")
    row.installed_at = installed_at
    row.custom_values = dict(data.custom_values or {})
    return refused
