"""Token rotation: refresh expiring bot and user tokens, one refresh token spent exactly once.

docs.slack.dev/authentication/using-token-rotation; slack-facts section 4. Bot and user tokens
refresh separately (each has its own refresh token; the answer is flat and covers one token).
Each refresh runs under a row lock on the workspace, re-reads the row after locking (another
runner may have refreshed it meanwhile), and saves the new access token, refresh token and
expiry in the same transaction. ``skip_locked`` lets two runners share the work on PostgreSQL;
SQLite serializes writers at BEGIN (transaction_mode IMMEDIATE), so the re-read covers it there.
slack_api.token_rotator() never retries a request that may have reached Slack.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.error import URLError

from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from slack_sdk.errors import SlackTokenRotationError
from slack_sdk.oauth.token_rotation import TokenRotator

from . import slack_api
from .conf import slack_config
from .fields import EncryptedDataError
from .models import Installation, LifecycleEvent, Workspace
from .persistence import record_event
from .sdk_mapping import as_datetime, to_sdk_bot, to_sdk_installation

logger = logging.getLogger(__name__)

FORCE_MINUTES = 10 * 365 * 24 * 60  # "refresh now": any expiry is within ten years
REINSTALL_CODES = frozenset(
    {"invalid_refresh_token", "token_revoked", "account_inactive", "undecryptable", "save_failed"}
)
SAVE_ATTEMPTS = 3
SKIPPED = "skipped"
USER_DUE = Q(
    is_current=True,
    user_refresh_token__isnull=False,
    user_token_expires_at__isnull=False,
    user_token_revoked_at__isnull=True,
    deleted_at__isnull=True,
)


@dataclass(frozen=True)
class RefreshOutcome:
    """What one refresh run did for a workspace, in plain words; never holds a token."""

    workspace_id: str
    label: str
    bot_refreshed: bool = False
    users_refreshed: int = 0
    error: str = ""
    skipped: bool = False

    @property
    def refreshed(self) -> bool:
        return self.bot_refreshed or self.users_refreshed > 0

    @property
    def message(self) -> str:
        parts = ["skipped: another runner is refreshing it"] if self.skipped else []
        if self.bot_refreshed:
            parts.append("bot token refreshed")
        if self.users_refreshed:
            parts.append(f"{self.users_refreshed} user token(s) refreshed")
        if self.error:
            reinstall = " (reinstall needed)" if self.error in REINSTALL_CODES else ""
            parts.append(f"refresh failed: {self.error}{reinstall}")
        return "; ".join(parts) or "nothing was due"


def _error_code(exc: SlackTokenRotationError) -> str:
    response = exc.api_error.response
    if response.status_code == 429:
        return "ratelimited"
    data = response.data if isinstance(response.data, dict) else {}
    return str(data.get("error") or f"http_{response.status_code}")


def _failed(workspace: Workspace, code: str, actor: str, *, who: str) -> str:
    """Record a refused refresh; a dead refresh token means the workspace needs a reinstall."""
    now = timezone.now()
    workspace.last_error, workspace.last_error_at = code, now
    fields = ["last_error", "last_error_at", "updated_at"]
    if code in REINSTALL_CODES and who == "bot":
        workspace.refresh_failed_at = now
        fields.append("refresh_failed_at")
    workspace.save(update_fields=fields)
    reinstall = "; reinstall needed" if code in REINSTALL_CODES else ""
    record_event(workspace, LifecycleEvent.Kind.REFRESH_FAILED, actor, f"{who}: {code}{reinstall}")
    logger.warning("token refresh for workspace %s (%s) failed: %s", workspace.pk, who, code)
    return code


@sensitive_variables("bot", "rotated")
def _refresh_bot(workspace: Workspace, rotator: TokenRotator, minutes: int, actor: str) -> str:
    """'refreshed', '' (nothing due) or an error code. The caller holds the row lock."""
    try:
        bot = to_sdk_bot(workspace)
    except EncryptedDataError:
        return _failed(workspace, "undecryptable", actor, who="bot")
    if bot is None or bot.bot_refresh_token is None or bot.bot_token_expires_at is None:
        return ""
    try:
        rotated = rotator.perform_bot_token_rotation(bot=bot, minutes_before_expiration=minutes)
    except SlackTokenRotationError as exc:
        return _failed(workspace, _error_code(exc), actor, who="bot")
    except (URLError, OSError) as exc:  # may have reached Slack: never retried here
        logger.warning("bot refresh for %s unreachable: %s", workspace.pk, type(exc).__name__)
        return "slack_unavailable"
    if rotated is None:
        return ""
    workspace.bot_token = rotated.bot_token
    workspace.bot_refresh_token = rotated.bot_refresh_token
    workspace.bot_token_expires_at = as_datetime(rotated.bot_token_expires_at)
    fields = ["bot_token", "bot_refresh_token", "bot_token_expires_at", "updated_at"]
    if not _save_rotated(lambda: workspace.save(update_fields=fields), workspace, "bot"):
        return _failed(workspace, "save_failed", actor, who="bot")
    record_event(workspace, LifecycleEvent.Kind.REFRESHED, actor, "bot token refreshed")
    return "refreshed"


def _save_rotated(save: Callable[[], None], workspace: Workspace, who: str) -> bool:
    """Store a refreshed pair, retrying a failed write a few times.

    Slack has already spent the old refresh token, so the new pair is the only live one: a
    write that keeps failing leaves the workspace needing a reinstall (checklist test 47).
    Each try runs in a savepoint, so a failed write leaves the row lock's transaction usable.
    """
    for attempt in range(1, SAVE_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                save()
        except DatabaseError as exc:
            logger.warning(
                "saving refreshed %s token of workspace %s failed (try %d of %d): %s",
                who, workspace.pk, attempt, SAVE_ATTEMPTS, type(exc).__name__,
            )  # fmt: skip
            time.sleep(0.05 * attempt)
        else:
            return True
    logger.error(
        "refreshed %s token of workspace %s could not be saved; the old refresh token is spent: "
        "reinstall needed",
        who,
        workspace.pk,
    )
    return False


@sensitive_variables("installation", "rotated")
def _refresh_user(
    workspace: Workspace, row_id: Any, rotator: TokenRotator, minutes: int, actor: str
) -> str:
    """'refreshed', '' or an error code for one user's token. The caller holds the row lock."""
    row = workspace.installations.filter(USER_DUE, pk=row_id).first()
    if row is None:
        return ""
    try:
        installation = to_sdk_installation(row, workspace)
        rotated = rotator.perform_user_token_rotation(
            installation=installation, minutes_before_expiration=minutes
        )
    except EncryptedDataError:
        return _user_failed(workspace, row, "undecryptable", actor)
    except SlackTokenRotationError as exc:
        return _user_failed(workspace, row, _error_code(exc), actor)
    except (URLError, OSError) as exc:
        logger.warning("user refresh for %s unreachable: %s", workspace.pk, type(exc).__name__)
        return "slack_unavailable"
    if rotated is None:
        return ""
    row.user_token = rotated.user_token
    row.user_refresh_token = rotated.user_refresh_token
    row.user_token_expires_at = as_datetime(rotated.user_token_expires_at)
    fields = ["user_token", "user_refresh_token", "user_token_expires_at"]
    if not _save_rotated(lambda: row.save(update_fields=fields), workspace, "user"):
        return _user_failed(workspace, row, "save_failed", actor)
    record_event(
        workspace, LifecycleEvent.Kind.REFRESHED, actor, f"user {row.user_id} token refreshed"
    )
    return "refreshed"


def _user_failed(workspace: Workspace, row: Installation, code: str, actor: str) -> str:
    if code in REINSTALL_CODES:  # a dead refresh token: stop trying; the user must authorize again
        Installation.objects.filter(pk=row.pk).update(
            user_token=None, user_refresh_token=None, user_token_revoked_at=timezone.now()
        )
    return _failed(workspace, code, actor, who=f"user {row.user_id}")


def _locked(workspace_id: Any, skip_locked: bool, step: Callable[[Workspace], str]) -> str:
    """Run one refresh step in its own transaction, holding the workspace's row lock."""
    with transaction.atomic():
        locked = Workspace.objects.select_for_update(skip_locked=skip_locked).filter(
            pk=workspace_id
        )
        workspace = next(iter(locked), None)  # re-read after locking
        if workspace is None:
            return SKIPPED
        return step(workspace)


def refresh_workspace(
    workspace: Workspace,
    *,
    actor: str,
    within_minutes: int | None = None,
    skip_locked: bool = False,
) -> RefreshOutcome:
    """Refresh the bot token and each current user token due within ``within_minutes``.

    ``None`` refreshes every rotating token now, whatever its expiry.
    """
    minutes = FORCE_MINUTES if within_minutes is None else within_minutes
    rotator = slack_api.token_rotator()
    bot = _locked(workspace.pk, skip_locked, lambda ws: _refresh_bot(ws, rotator, minutes, actor))
    users, errors = 0, [] if bot in ("", "refreshed", SKIPPED) else [bot]
    row_ids = list(workspace.installations.filter(USER_DUE).values_list("pk", flat=True))
    for row_id in [] if bot == SKIPPED else row_ids:
        result = _locked(
            workspace.pk,
            skip_locked,
            lambda ws, row_id=row_id: _refresh_user(ws, row_id, rotator, minutes, actor),
        )
        users += result == "refreshed"
        if result not in ("", "refreshed", SKIPPED):
            errors.append(result)
    return RefreshOutcome(
        workspace_id=str(workspace.pk),
        label=str(workspace),
        bot_refreshed=bot == "refreshed",
        users_refreshed=users,
        error=errors[0] if errors else "",
        skipped=bot == SKIPPED,
    )


def due_workspaces(within_minutes: int) -> list[Workspace]:
    """Active workspaces with a rotating bot or current user token expiring within the window."""
    horizon = timezone.now() + timedelta(minutes=within_minutes)
    users = Installation.objects.filter(USER_DUE, user_token_expires_at__lte=horizon)
    bot_due = Q(
        bot_refresh_token__isnull=False,
        bot_token_expires_at__lte=horizon,
        bot_revoked_at__isnull=True,
        refresh_failed_at__isnull=True,  # needs a reinstall: trying again cannot help
    )
    return list(
        Workspace.objects.filter(uninstalled_at__isnull=True)
        .filter(bot_due | Q(pk__in=users.values("workspace_id")))
        .order_by("team_id", "enterprise_id")
    )


def refresh_due(*, within_minutes: int | None = None, actor: str) -> list[RefreshOutcome]:
    """Refresh every workspace due within the window (default: the configured rotation window)."""
    minutes = slack_config().token_rotation_minutes if within_minutes is None else within_minutes
    return [
        refresh_workspace(ws, actor=actor, within_minutes=minutes, skip_locked=True)
        for ws in due_workspaces(minutes)
    ]
