"""Lifecycle services for admin actions and commands: verify, revoke, refresh one workspace.

``actor`` names who asked: "slack", "staff:<username>", "command:<name>" or "bolt"; every change
is recorded as a LifecycleEvent with it. The work lives in verification.py, rotation.py and
revocation.py; this module is the small surface callers use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.views.decorators.debug import sensitive_variables

from . import slack_api
from .errors import SlackRefused, SlackUnavailable
from .fields import EncryptedDataError
from .models import Workspace
from .revocation import mark_revoked_by_staff
from .rotation import RefreshOutcome, refresh_workspace
from .verification import VerifyOutcome, verify_workspace

__all__ = [
    "RefreshOutcome",
    "RevokeOutcome",
    "VerifyOutcome",
    "refresh_workspace",
    "revoke_workspace",
    "verify_workspace",
]

logger = logging.getLogger(__name__)

# Answers that mean the token is already dead at Slack: erasing our copy is then safe.
ALREADY_DEAD = frozenset({"token_revoked", "invalid_auth", "account_inactive", "token_expired"})


@dataclass(frozen=True)
class RevokeOutcome:
    """What a staff revoke did, in plain words; never holds a token."""

    workspace_id: str
    label: str
    revoked: bool
    tokens_revoked: int = 0
    error: str = ""
    message: str = ""


@sensitive_variables("tokens", "token")
def _revoke_at_slack(workspace: Workspace) -> tuple[int, str]:
    """auth.revoke each live token (bot, then current users'); (count, first blocking error)."""
    tokens: list[str] = []
    try:
        if workspace.bot_token is not None:
            tokens.append(workspace.bot_token)
        for row in workspace.installations.filter(is_current=True, user_token__isnull=False):
            tokens.append(row.user_token)
    except EncryptedDataError:
        return 0, "undecryptable"
    revoked = 0
    for token in tokens:
        try:
            slack_api.revoke(token)
            revoked += 1
        except SlackRefused as exc:
            if exc.reason not in ALREADY_DEAD:
                return revoked, exc.reason
        except SlackUnavailable as exc:
            return revoked, exc.reason
    return revoked, ""


def _reinstalled(workspace: Workspace) -> bool:
    return (
        Workspace.objects.filter(pk=workspace.pk)
        .exclude(installed_at=workspace.installed_at)
        .exists()
    )


def revoke_workspace(workspace: Workspace, *, actor: str) -> RevokeOutcome:
    """auth.revoke the bot token and current user tokens, then erase them (history stays).

    docs.slack.dev/reference/methods/auth.revoke. When Slack cannot be reached nothing is
    erased: a token we forget but Slack still honours could never be revoked later.
    """
    revoked, error = _revoke_at_slack(workspace)
    label = str(workspace)
    if error and error != "undecryptable":
        logger.warning("revoke of workspace %s stopped: %s", workspace.pk, error)
        return RevokeOutcome(
            str(workspace.pk),
            label,
            revoked=False,
            tokens_revoked=revoked,
            error=error,
            message=f"Slack did not confirm the revocation ({error}); nothing was erased. "
            "Try again later.",
        )
    detail = f"{revoked} token(s) revoked at Slack; tokens erased"
    if error:
        detail = "stored tokens could not be decrypted; erased without calling Slack"
    if not mark_revoked_by_staff(workspace, actor=actor, detail=detail) and _reinstalled(workspace):
        detail = f"{revoked} old token(s) revoked at Slack; reinstalled meanwhile, new tokens kept"
    workspace.refresh_from_db()
    return RevokeOutcome(
        str(workspace.pk),
        label,
        revoked=True,
        tokens_revoked=revoked,
        error=error,
        message=detail[:1].upper() + detail[1:] + ".",
    )
