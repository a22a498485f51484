"""Lifecycle services for admin actions and commands: verify, revoke, refresh one workspace.
``actor`` is recorded with every change; Slack is called outside any transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from django.views.decorators.debug import sensitive_variables

from installations.encryption.fields import EncryptedDataError
from installations.lifecycle.revocation import (
    ENDED,
    REVOKED,
    WAS_DEAD,
    TokensChangedMeanwhile,
    live_tokens,
    mark_revoked_by_staff,
    revoke_at_slack,
)
from installations.lifecycle.rotation import RefreshOutcome, refresh_workspace
from installations.lifecycle.verification import VerifyOutcome, verify_workspace
from installations.models import Workspace

__all__ = [
    "EncryptedDataError",
    "RefreshOutcome",
    "RevokeOutcome",
    "StaffOutcome",
    "StaffService",
    "VerifyOutcome",
    "refresh_workspace",
    "revoke_workspace",
    "verify_workspace",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RevokeOutcome:
    """What a staff revoke did, in plain words; never holds a token."""

    workspace_id: str
    label: str
    revoked: bool
    tokens_revoked: int = 0  # tokens Slack confirmed it revoked, refresh tokens included
    tokens_already_dead: int = 0  # tokens Slack said were dead already
    error: str = ""
    message: str = ""
    unreadable: tuple[str, ...] = ()  # the key id a token this process cannot decrypt needs


# What every service below returns: ``error`` (a reason code, "" when it worked), ``message``
# (plain words for staff) and ``unreadable`` (key ids a token this process cannot decrypt needs).
StaffOutcome = RefreshOutcome | RevokeOutcome | VerifyOutcome


class StaffService(Protocol):
    """verify_workspace, refresh_workspace or revoke_workspace, as an admin action calls them."""

    def __call__(self, workspace: Workspace, *, actor: str) -> StaffOutcome: ...


@dataclass
class _Counts:
    """What auth.revoke answered so far, for a truthful outcome."""

    revoked: int = 0  # Slack confirmed it revoked the token
    already_dead: int = 0  # Slack answered the token was dead already (WAS_DEAD)


@sensitive_variables("tokens", "token", "gone")
def _revoke_at_slack(
    tokens: list[str], workspace_id: object, counts: _Counts
) -> tuple[list[str], str]:
    """auth.revoke each token in turn, in the order given (refresh tokens first): (the tokens now
    dead at Slack, the first blocking error). ``counts`` adds up what Slack answered."""
    gone: list[str] = []
    for token in tokens:
        result = revoke_at_slack(token, workspace_id)
        if result not in ENDED:
            return gone, result
        counts.revoked += result == REVOKED
        counts.already_dead += result == WAS_DEAD
        gone.append(token)
    return gone, ""


def _refused_unreadable(workspace: Workspace, exc: EncryptedDataError) -> RevokeOutcome:
    """A token this process cannot decrypt cannot be revoked at Slack, so nothing is erased:
    a token we forget but Slack still honours could never be revoked later."""
    logger.error(
        "revoke of workspace %s refused: %s; this process's keys: %s. A key configuration "
        "problem (check TOKEN_ENCRYPTION_KEYS): nothing was revoked or erased",
        workspace.pk, exc, ", ".join(exc.configured) or "none",
    )  # fmt: skip
    return RevokeOutcome(
        str(workspace.pk),
        str(workspace),
        revoked=False,
        error="undecryptable",
        message="Nothing was revoked or erased: a stored token cannot be decrypted with this "
        f"server's keys ({exc.key_problem}). This is a key configuration problem "
        "(TOKEN_ENCRYPTION_KEYS), not a problem with the workspace; fix the keys and try again.",
        unreadable=(exc.needed_kid,),
    )


def _reinstalled(workspace: Workspace) -> bool:
    rows = Workspace.objects.filter(pk=workspace.pk)
    return rows.exclude(installed_at=workspace.installed_at).exists()


# Each round also revokes tokens a refresh stored meanwhile; a third means something keeps
# writing tokens: stop and say so.
REVOKE_ROUNDS = 3


def _revoked_words(counts: _Counts) -> str:
    """How many tokens Slack confirmed revoked, and how many it said were dead already."""
    words = f"{counts.revoked} token(s) revoked at Slack"
    if counts.already_dead:
        words += f", {counts.already_dead} already dead there"
    return words


@sensitive_variables("dead", "tokens", "gone")
def revoke_workspace(workspace: Workspace, *, actor: str) -> RevokeOutcome:
    """auth.revoke every token Slack may still honour, refresh tokens first (``live_tokens``),
    then erase them (history stays). When Slack cannot be reached nothing is erased: a
    forgotten live token could never be revoked."""
    label = str(workspace)
    dead: set[str] = set()  # revoked by us, or already dead at Slack
    counts = _Counts()

    def outcome(**fields: Any) -> RevokeOutcome:  # with the tokens revoked so far
        return RevokeOutcome(
            str(workspace.pk),
            label,
            tokens_revoked=counts.revoked,
            tokens_already_dead=counts.already_dead,
            **fields,
        )

    for _round in range(REVOKE_ROUNDS):
        try:
            tokens = live_tokens(workspace)
        except EncryptedDataError as exc:
            return _refused_unreadable(workspace, exc)
        gone, error = _revoke_at_slack([t for t in tokens if t not in dead], workspace.pk, counts)
        dead.update(gone)
        if error:
            logger.warning("revoke of workspace %s stopped: %s", workspace.pk, error)
            return outcome(
                revoked=False,
                error=error,
                message=f"Slack did not confirm the revocation ({error}); nothing was erased "
                f"({_revoked_words(counts)} so far). Try again later.",
            )
        detail = f"{_revoked_words(counts)}; tokens erased"
        try:
            erased = mark_revoked_by_staff(workspace, actor=actor, detail=detail, revoked=dead)
        except TokensChangedMeanwhile:
            logger.info("revoke of workspace %s: tokens refreshed meanwhile", workspace.pk)
            workspace.refresh_from_db()
            continue
        except EncryptedDataError as exc:
            return _refused_unreadable(workspace, exc)
        if not erased and _reinstalled(workspace):
            detail = (
                f"{_revoked_words(counts)} (old tokens); reinstalled meanwhile, new tokens kept"
            )
        workspace.refresh_from_db()
        return outcome(revoked=True, message=detail[:1].upper() + detail[1:] + ".")
    logger.warning("revoke of workspace %s stopped: tokens kept changing", workspace.pk)
    return outcome(
        revoked=False,
        error="tokens_changing",
        message=f"{_revoked_words(counts)}, but new tokens kept being stored meanwhile (a token "
        "refresh running?); nothing was erased. Try again.",
    )
