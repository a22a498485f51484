"""Minting obviously fake credentials: tokens, refresh tokens and incoming-webhook URLs.

Prefixes follow Slack's (xoxb-, xoxp-, rotating xoxe.xoxb-1-, refresh xoxe-1-; see
docs.slack.dev/authentication/tokens) with ``standin`` inside, so no value can pass for a real one.
"""

from __future__ import annotations

import time
from dataclasses import replace

from .state import (
    BOT_USER_ID,
    INSTALLER_USER_ID,
    ROTATION_SECONDS,
    Grant,
    StandInState,
    TokenRecord,
    enterprise_name_for,
    new_hex,
    slug,
    team_name_for,
)


def token_value(kind: str, *, rotating: bool) -> str:
    if kind == "refresh":
        return f"xoxe-1-standin-{new_hex()}"
    prefix = "xoxb" if kind == "bot" else "xoxp"
    return f"xoxe.{prefix}-1-standin-{new_hex()}" if rotating else f"{prefix}-standin-{new_hex()}"


def mint_access(state: StandInState, grant: Grant, kind: str, scopes: str) -> TokenRecord:
    """A bot or user token for an approved grant (rotating when the grant asked for it)."""
    record = TokenRecord(
        token=token_value(kind, rotating=grant.rotation),
        kind=kind,
        team_id=grant.team_id,
        team_name=team_name_for(grant.team_id) if grant.team_id else None,
        enterprise_id=grant.enterprise_id,
        enterprise_name=enterprise_name_for(grant.enterprise_id) if grant.enterprise_id else None,
        user_id=BOT_USER_ID if kind == "bot" else INSTALLER_USER_ID,
        scopes=scopes,
        is_enterprise_install=grant.org_wide,
        expires_at=time.time() + ROTATION_SECONDS if grant.rotation else None,
    )
    return state.add_token(record)


def mint_bot(
    state: StandInState,
    team_id: str,
    *,
    team_name: str | None = None,
    scopes: str = "commands",
    expires_at: float | None = None,
) -> TokenRecord:
    """A bot token of ``team_id`` as if an install had issued it, for tests and benchmarks that
    load thousands of workspaces without going through the OAuth pages (rotating when it
    expires)."""
    record = TokenRecord(
        token=token_value("bot", rotating=expires_at is not None),
        kind="bot",
        team_id=team_id,
        team_name=team_name or team_name_for(team_id),
        enterprise_id=None,
        enterprise_name=None,
        user_id=BOT_USER_ID,
        scopes=scopes,
        is_enterprise_install=False,
        expires_at=expires_at,
    )
    return state.add_token(record)


def mint_refresh(state: StandInState, access: TokenRecord) -> TokenRecord:
    """The refresh token that renews ``access`` (it remembers which token it pairs with)."""
    record = replace(
        access,
        token=token_value("refresh", rotating=True),
        kind="refresh",
        expires_at=None,
        revoked=False,
        error=None,
        refreshes=access.kind,
        pair=access.token,
    )
    return state.add_token(record)


def mint_renewed(state: StandInState, refresh: TokenRecord) -> TokenRecord:
    """A fresh rotating access token of the kind ``refresh`` renews, same owner and scopes."""
    kind = refresh.refreshes or "bot"
    record = replace(
        refresh,
        token=token_value(kind, rotating=True),
        kind=kind,
        expires_at=time.time() + ROTATION_SECONDS,
        refreshes=None,
        pair=None,
        used=False,
    )
    return state.add_token(record)


def webhook(grant: Grant) -> dict[str, str]:
    """Each install creates a new webhook URL (docs/slack-protocol.md §2d); treat it as a secret."""
    owner = grant.team_id or grant.enterprise_id or "T0STANDIN1"
    hook_id = "B" + new_hex(5).upper()
    name = team_name_for(grant.team_id) if grant.team_id else "standin"
    return {
        "channel": grant.webhook_channel,
        "channel_id": "C0STANDIN1",
        "configuration_url": f"https://{slug(name)}.slack.com/services/{hook_id}",
        "url": f"https://hooks.slack.com/services/{owner}/{hook_id}/{new_hex(12)}",
    }
