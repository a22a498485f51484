"""Token health: auth.test with each workspace's bot token, and what its answer means.

docs.slack.dev/reference/methods/auth.test; slack-facts section 5. ``token_revoked`` and
``account_inactive`` mean the token is dead; ``invalid_auth`` can be an IP allow-list refusal,
so it makes a workspace suspect and dead only on the second failure in a row; a network error
or a rate limit says nothing about the token (health unknown, never dead). Granted bot scopes
come from the ``x-oauth-scopes`` header of the same answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from slack_sdk import WebClient
from slack_sdk.http_retry import RateLimitErrorRetryHandler

from . import rotation, slack_api
from .errors import SlackRefused, SlackUnavailable
from .fields import EncryptedDataError, holds_value
from .models import Health, LifecycleEvent, Workspace
from .persistence import record_event

logger = logging.getLogger(__name__)

DEAD_CODES = frozenset({"token_revoked", "account_inactive"})
SUSPECT_CODES = frozenset({"invalid_auth"})
RATE_LIMIT_RETRIES = 3

MESSAGES = {
    "ok": "The bot token works.",
    "token_revoked": "Slack says the token was revoked: the app needs a reinstall.",
    "account_inactive": "Slack says the workspace or its installer is gone: reinstall needed.",
    "invalid_auth": "Slack refused the token (it may be an IP allow-list); checked again next run.",
    "token_expired": "The rotating token had expired and could not be refreshed.",
    "no_token": "No bot token is stored: the app was uninstalled or its token revoked.",
    "undecryptable": "The stored token cannot be decrypted with the configured keys.",
    "ratelimited": "Slack rate-limited the check; health unknown until the next run.",
    "slack_unavailable": "Slack could not be reached; health unknown until the next run.",
    "slack_http_error": "Slack answered with a server error; health unknown until the next run.",
    "changed_meanwhile": "The token changed while it was checked (a reinstall or refresh): "
    "nothing recorded; check again.",
}


@dataclass(frozen=True)
class VerifyOutcome:
    """What one auth.test said, in plain words; never holds a token."""

    workspace_id: str
    label: str
    health: str
    error: str = ""
    scopes: tuple[str, ...] | None = None
    message: str = ""
    reachable: bool = True

    @property
    def outcome(self) -> str:
        return self.error or self.health


def _message(code: str) -> str:
    return MESSAGES.get(code) or f"Slack answered {code}."


@sensitive_variables("token")
def _auth_test(workspace: Workspace, client: WebClient | None) -> tuple[str, object]:
    """('ok', response) or (error code, None). Reads the token only here."""
    try:
        token = workspace.bot_token
    except EncryptedDataError:
        return "undecryptable", None
    if token is None:
        return "no_token", None
    try:
        return "ok", slack_api.auth_test(token, client=client)
    except (SlackRefused, SlackUnavailable) as exc:
        return exc.reason, None


def verify_workspace(
    workspace: Workspace, *, actor: str, client: WebClient | None = None
) -> VerifyOutcome:
    """auth.test with the bot token; records health, scopes and errors on the workspace."""
    code, response = _auth_test(workspace, client)
    if code == "token_expired" and holds_value(workspace, "bot_refresh_token"):
        refreshed = rotation.refresh_workspace(workspace, actor=actor, within_minutes=None)
        if refreshed.bot_refreshed:
            workspace.refresh_from_db()
            code, response = _auth_test(workspace, client)
    if code == "no_token":
        return VerifyOutcome(
            str(workspace.pk), str(workspace), workspace.health, code, message=_message(code)
        )
    return _record(workspace, code, response, actor=actor)


def _same_bot_token(stored: Workspace, tested: Workspace) -> bool:
    try:
        return stored.bot_token == tested.bot_token
    except EncryptedDataError:  # unreadable: the same stored envelope means the same token
        field = Workspace._meta.get_field("bot_token")
        return field.stored_envelope(stored) == field.stored_envelope(tested)


@transaction.atomic  # the health update and its lifecycle event commit together
def _record(tested: Workspace, code: str, response: object, *, actor: str) -> VerifyOutcome:
    # Re-read under the row lock: a reinstall or refresh during the call must not be marked
    # with the verdict on the token it replaced, nor have its scopes rolled back.
    workspace = Workspace.objects.select_for_update().get(pk=tested.pk)
    if not _same_bot_token(workspace, tested):
        logger.info("verify of workspace %s: token changed meanwhile, not recorded", tested.pk)
        return VerifyOutcome(
            str(workspace.pk), str(workspace), workspace.health, "changed_meanwhile",
            message=_message("changed_meanwhile"),
        )  # fmt: skip
    now = timezone.now()
    before = (workspace.health, workspace.bot_scopes)
    scopes = slack_api.granted_scopes(response) if response is not None else None
    reachable = code not in ("ratelimited", "slack_unavailable", "slack_http_error")
    if code == "ok":
        workspace.health, workspace.verify_failures, workspace.last_error = Health.OK, 0, ""
        workspace.last_verified_at = now
        if scopes is not None:
            workspace.bot_scopes = ",".join(scopes)
    elif not reachable or code == "undecryptable":
        workspace.health = Health.UNKNOWN  # says nothing about the token itself
    else:
        workspace.verify_failures += 1
        workspace.last_verified_at = now
        if code in DEAD_CODES or (code in SUSPECT_CODES and workspace.verify_failures >= 2):
            workspace.health = Health.DEAD
        elif code in SUSPECT_CODES or code == "token_expired":
            workspace.health = Health.SUSPECT
        else:  # a policy or migration answer (no_permission, org_login_required...): not dead
            workspace.health = Health.UNKNOWN
    if code != "ok":
        workspace.last_error, workspace.last_error_at = code, now
    workspace.save(
        update_fields=[
            "health", "verify_failures", "last_verified_at", "last_error", "last_error_at",
            "bot_scopes", "updated_at",
        ]
    )  # fmt: skip
    if code == "ok" and (
        before != (workspace.health, workspace.bot_scopes) or not actor.startswith("command:")
    ):
        record_event(workspace, LifecycleEvent.Kind.VERIFIED, actor,
                     f"health ok; bot scopes: {workspace.bot_scopes or 'none'}")  # fmt: skip
    elif code != "ok":
        record_event(workspace, LifecycleEvent.Kind.VERIFY_FAILED, actor,
                     f"{code}; health {workspace.health}")  # fmt: skip
    logger.info("verified workspace %s: %s (health %s)", workspace.pk, code, workspace.health)
    return VerifyOutcome(
        workspace_id=str(workspace.pk),
        label=str(workspace),
        health=workspace.health,
        error="" if code == "ok" else code,
        scopes=scopes,
        message=_message(code),
        reachable=reachable,
    )


def active_workspaces() -> list[Workspace]:
    """Installations whose bot token should work: not uninstalled, not revoked, token stored."""
    return list(
        Workspace.objects.filter(
            uninstalled_at__isnull=True, bot_revoked_at__isnull=True, bot_token__isnull=False
        ).order_by("team_id", "enterprise_id")
    )


def _verify_in_thread(workspace_id: Any, actor: str) -> VerifyOutcome:
    """One check on a worker thread; the thread's own DB connection is closed afterwards."""
    try:
        return _verify_patiently(Workspace.objects.get(pk=workspace_id), actor)
    finally:
        connection.close()


def _verify_patiently(workspace: Workspace, actor: str) -> VerifyOutcome:
    # A command may wait out Slack's 429 Retry-After (slack-facts section 9); a request may not.
    handler = RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES)
    client = slack_api.idempotent_client(rate_limit_handler=handler)
    return verify_workspace(workspace, actor=actor, client=client)


def verify_active(
    *,
    actor: str,
    concurrency: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> list[VerifyOutcome]:
    """auth.test every active installation, at most ``concurrency`` at a time."""
    workspaces = active_workspaces()
    total, outcomes = len(workspaces), []
    if concurrency <= 1:
        for workspace in workspaces:
            outcomes.append(_verify_patiently(workspace, actor))
            if progress:
                progress(len(outcomes), total)
        return outcomes  # already in label order
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [pool.submit(_verify_in_thread, ws.pk, actor) for ws in workspaces]
        for future in as_completed(futures):
            outcomes.append(future.result())
            if progress:
                progress(len(outcomes), total)
    return sorted(outcomes, key=lambda o: o.label)
