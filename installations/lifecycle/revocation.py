"""The one place that marks tokens dead: uninstall, bot revocation, user revocation, staff revoke.

Tokens are erased, history rows stay. Slack's events may arrive late, out of order and more than
once: every function is idempotent, and an event older than the latest install is a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime
from urllib.error import URLError

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from installations.encryption.fields import has_stored_value
from installations.exceptions import SlackInstallError, SlackRefused
from installations.lifecycle.saving import EVENT_TIME_RESOLUTION, record_event
from installations.models import Health, Installation, LifecycleEvent, Workspace
from installations.slack import api as slack_api

logger = logging.getLogger(__name__)

# What auth.revoke answers for a token already dead at Slack: erasing our copy is then safe.
ALREADY_DEAD = frozenset({"token_revoked", "invalid_auth", "account_inactive", "token_expired"})
# What ``revoke_at_slack`` returns when the token is ended; anything else is why it is not.
REVOKED = "revoked"
WAS_DEAD = "already_dead"
ENDED = frozenset({REVOKED, WAS_DEAD})
HAS_USER_TOKEN = Q(user_token__isnull=False) | Q(user_refresh_token__isnull=False)


@sensitive_variables("token")
def revoke_at_slack(token: str, workspace_id: object) -> str:
    """auth.revoke ``token``: REVOKED, WAS_DEAD (Slack says it was dead already), or the code of
    why it was not ended (a refusal, unreachable, rate-limited, ``revoked: false``)."""
    try:
        confirmed = slack_api.revoke(token)
    except SlackRefused as exc:
        return WAS_DEAD if exc.reason in ALREADY_DEAD else exc.reason
    except SlackInstallError as exc:  # unreachable, rate-limited, an answer we cannot use
        return exc.reason
    except (URLError, OSError) as exc:
        logger.warning("auth.revoke for %s unreachable: %s", workspace_id, type(exc).__name__)
        return "slack_unavailable"
    return REVOKED if confirmed else "not_revoked"


def _locked_target(
    client_id: str, enterprise_id: str | None, team_id: str | None
) -> Workspace | None:
    rows = Workspace.objects.select_for_update().filter(client_id=client_id)
    return rows.filter(enterprise_id=enterprise_id or "", team_id=team_id or "").first()


def is_stale(occurred_at: datetime | None, installed_at: datetime) -> bool:
    """True when something that happened at ``occurred_at`` predates the install."""
    return occurred_at is not None and occurred_at + EVENT_TIME_RESOLUTION <= installed_at


def _describe(enterprise_id: str | None, team_id: str | None) -> str:
    return f"team={team_id or '-'} enterprise={enterprise_id or '-'}"


def _erase_installations(workspace: Workspace, when: datetime, *, delete: bool) -> int:
    """Erase every user token, refresh token and webhook URL of the target's history rows."""
    holding = HAS_USER_TOKEN | Q(incoming_webhook_url__isnull=False)
    rows = workspace.installations.filter(
        holding | Q(deleted_at__isnull=True) if delete else holding
    )
    ids = list(rows.values_list("pk", flat=True))
    if not ids:
        return 0
    Installation.objects.filter(HAS_USER_TOKEN, pk__in=ids).update(user_token_revoked_at=when)
    erase = {"user_token": None, "user_refresh_token": None, "incoming_webhook_url": None}
    Installation.objects.filter(pk__in=ids).update(**erase)
    if delete:
        Installation.objects.filter(pk__in=ids, deleted_at__isnull=True).update(deleted_at=when)
    return len(ids)


def _erase_bot(workspace: Workspace, when: datetime) -> bool:
    """Erase the bot token pair on the (locked) row; True when anything changed."""
    changed = workspace.bot_revoked_at is None or has_stored_value(workspace, "bot_token")
    changed = changed or has_stored_value(workspace, "bot_refresh_token")
    workspace.bot_token = workspace.bot_refresh_token = None
    workspace.bot_revoked_at = workspace.bot_revoked_at or when
    workspace.health = Health.DEAD
    return changed


@transaction.atomic
def mark_uninstalled(
    *,
    client_id: str,
    enterprise_id: str | None,
    team_id: str | None,
    actor: str,
    occurred_at: datetime | None = None,
    slack_event_id: str = "",
) -> int:
    """The app was removed from the target: erase every token and webhook URL, keep history;
    how many rows changed (0 for an unknown target, a repeat, or a stale event)."""
    target = _describe(enterprise_id, team_id)
    workspace = _locked_target(client_id, enterprise_id, team_id)
    if workspace is None:
        logger.info("uninstall for unknown target %s: nothing to do", target)
        return 0
    if is_stale(occurred_at, workspace.installed_at):
        logger.info("uninstall for %s predates the latest install: ignored", target)
        return 0
    when = occurred_at or timezone.now()
    changed = int(_erase_bot(workspace, when) or workspace.uninstalled_at is None)
    workspace.uninstalled_at = workspace.uninstalled_at or when
    workspace.save()
    changed += _erase_installations(workspace, when, delete=True)
    if changed:
        record_event(
            workspace,
            LifecycleEvent.Kind.UNINSTALLED,
            actor,
            "app removed; all tokens erased",
            slack_event_id=slack_event_id,
            occurred_at=when,
        )
        logger.info("marked %s uninstalled (%s rows)", target, changed)
    return changed


@transaction.atomic
def mark_bot_revoked(
    *,
    client_id: str,
    enterprise_id: str | None,
    team_id: str | None,
    actor: str,
    occurred_at: datetime | None = None,
    slack_event_id: str = "",
) -> int:
    """The target's bot token was revoked (tokens_revoked with ``tokens.bot``): erase the pair."""
    target = _describe(enterprise_id, team_id)
    workspace = _locked_target(client_id, enterprise_id, team_id)
    if workspace is None or is_stale(occurred_at, workspace.installed_at):
        logger.info("bot revocation for %s: unknown target or older than the install", target)
        return 0
    when = occurred_at or timezone.now()
    if not _erase_bot(workspace, when):
        return 0
    workspace.save()
    record_event(
        workspace,
        LifecycleEvent.Kind.BOT_REVOKED,
        actor,
        f"bot user {workspace.bot_user_id or '-'}: token erased",
        slack_event_id=slack_event_id,
        occurred_at=when,
    )
    logger.info("marked bot token of %s revoked", target)
    return 1


@transaction.atomic
def mark_users_revoked(
    *,
    client_id: str,
    enterprise_id: str | None,
    team_id: str | None,
    user_ids: list[str] | None,
    actor: str,
    occurred_at: datetime | None = None,
    slack_event_id: str = "",
) -> int:
    """Users' tokens were revoked (``None``: every user); rows of a newer flow stay."""
    target = _describe(enterprise_id, team_id)
    workspace = _locked_target(client_id, enterprise_id, team_id)
    if workspace is None or (user_ids is not None and not user_ids):
        return 0
    when = occurred_at or timezone.now()
    rows = workspace.installations.filter(HAS_USER_TOKEN)
    if user_ids is not None:
        rows = rows.filter(user_id__in=user_ids)
    if occurred_at is not None:
        rows = rows.filter(installed_at__lt=occurred_at + EVENT_TIME_RESOLUTION)
    ids = list(rows.values_list("pk", flat=True))
    if not ids:
        logger.info("user revocation for %s: no live user tokens to erase", target)
        return 0
    Installation.objects.filter(pk__in=ids).update(
        user_token=None, user_refresh_token=None, user_token_revoked_at=when
    )
    revoked = sorted(set(Installation.objects.filter(pk__in=ids).values_list("user_id", flat=True)))
    record_event(
        workspace,
        LifecycleEvent.Kind.USER_REVOKED,
        actor,
        "user tokens erased: " + (", ".join(u or "-" for u in revoked)),
        slack_event_id=slack_event_id,
        occurred_at=when,
    )
    logger.info("marked %s user token(s) of %s revoked", len(ids), target)
    return len(ids)


class TokensChangedMeanwhile(Exception):
    """The row holds a token not revoked at Slack (a refresh stored it meanwhile): erasing it
    would leave a live token nobody can revoke, so the caller revokes it and tries again."""


@sensitive_variables("tokens", "values", "users")
def live_tokens(workspace: Workspace) -> list[str]:
    """Every token of the target Slack may still honour, refresh tokens first: the bot's refresh
    token, users' refresh tokens, then the bot token and users' tokens. Every history row that
    holds one counts, not the current ones alone: a flow that finished after a newer one of the
    same user keeps its own tokens on its (not current) row.

    With rotation auth.revoke ends only the one token it is called with (docs/slack-protocol.md
    §5), so each is revoked on its own; a refresh token outlives its access token (an expired
    access token is dead, its refresh token still mints new pairs), and revoking it first leaves
    nothing that could mint a pair while the rest is revoked. Raises EncryptedDataError before
    any call when one cannot be decrypted."""
    users = list(workspace.installations.filter(HAS_USER_TOKEN).order_by("pk"))
    values = [
        workspace.bot_refresh_token,
        *(row.user_refresh_token for row in users),
        workspace.bot_token,
        *(row.user_token for row in users),
    ]
    tokens = [token for token in values if token is not None]
    return list(dict.fromkeys(tokens))


@sensitive_variables("revoked")
@transaction.atomic
def mark_revoked_by_staff(
    workspace: Workspace, *, actor: str, detail: str, revoked: Collection[str]
) -> int:
    """After auth.revoke of ``revoked``: erase the bot pair, user tokens and webhook URLs, or
    raise TokensChangedMeanwhile, erasing nothing, when the row holds another token."""
    locked = Workspace.objects.select_for_update().get(pk=workspace.pk)
    if locked.installed_at != workspace.installed_at:
        # Reinstalled while Slack was revoking the old tokens: the new ones are not ours to
        # erase (they were never revoked at Slack).
        logger.info("revoke of workspace %s: reinstalled meanwhile, new tokens kept", locked.pk)
        return 0
    if not set(live_tokens(locked)) <= set(revoked):
        raise TokensChangedMeanwhile
    when = timezone.now()
    changed = int(_erase_bot(locked, when))
    locked.save()
    changed += _erase_installations(locked, when, delete=False)
    record_event(locked, LifecycleEvent.Kind.REVOKED, actor, detail, occurred_at=when)
    logger.info("revoked tokens of workspace %s by %s", locked.pk, actor)
    return changed
