"""``oauth.v2.access``: client authentication, code exchange and token refresh.

Shapes and error codes follow docs.slack.dev/reference/methods/oauth.v2.access and
docs.slack.dev/authentication/using-token-rotation (see docs/slack-protocol.md §2 to §4).
"""

from __future__ import annotations

import time
from typing import Any

from . import pkce, tokens
from .state import (
    APP_ID,
    BOT_USER_ID,
    INSTALLER_USER_ID,
    ROTATION_SECONDS,
    Call,
    Grant,
    Install,
    StandInState,
    TokenRecord,
)

Body = dict[str, Any]
WEBHOOK_SCOPE = "incoming-webhook"


def error(code: str) -> Body:
    return {"ok": False, "error": code}


def client_error(call: Call, client_id: str, client_secret: str) -> str | None:
    """Slack accepts HTTP Basic (recommended, what slack_sdk sends) or form fields."""
    given_id, given_secret = call.basic_auth or (
        call.params.get("client_id", ""),
        call.params.get("client_secret", ""),
    )
    if given_id != client_id:
        return "invalid_client_id"
    if given_secret != client_secret:
        return "bad_client_secret"
    return None


def access(state: StandInState, call: Call, client_id: str, client_secret: str) -> Body:
    problem = client_error(call, client_id, client_secret)
    if problem:
        return error(problem)
    grant_type = call.params.get("grant_type") or "authorization_code"
    if grant_type == "authorization_code":
        return exchange_code(state, call)
    if grant_type == "refresh_token":
        return refresh(state, call.params.get("refresh_token", ""))
    return error("invalid_grant_type")


def _where(record: TokenRecord, *, team_name: bool = True) -> Body:
    """team / enterprise / is_enterprise_install: team is null org-wide, enterprise outside Grid.
    Without ``team_name`` (a user-scopes-only install, slack-protocol §2c) team has its id only."""
    team: Body | None = None
    if record.team_id is not None:
        team = (
            {"id": record.team_id, "name": record.team_name}
            if team_name
            else {"id": record.team_id}
        )
    enterprise = None
    if record.enterprise_id is not None:
        enterprise = {"id": record.enterprise_id, "name": record.enterprise_name}
    return {
        "team": team,
        "enterprise": enterprise,
        "is_enterprise_install": record.is_enterprise_install,
    }


def _redeem(state: StandInState, call: Call) -> Grant | str:
    """The grant for this code, spent; or an error code. Codes are single-use, 10 minutes."""
    with state.lock:
        grant = state.grants.get(call.params.get("code", ""))
        if grant is None or grant.used:
            return "invalid_code"
        if time.time() - grant.created_at > state.code_ttl_seconds:
            return "invalid_code"
        if grant.redirect_uri is not None and call.params.get("redirect_uri") != grant.redirect_uri:
            return "bad_redirect_uri"  # failed attempts leave the code unspent
        if pkce.verifier_refused(grant.code_challenge, call.params):
            return "invalid_code_verifier"
        grant.used = True
        return grant


def exchange_code(state: StandInState, call: Call) -> Body:
    """The bot token at the top level, the user token under ``authed_user`` (slack-protocol §2)."""
    grant = _redeem(state, call)
    if isinstance(grant, str):
        return error(grant)
    body: Body = {"ok": True, "app_id": APP_ID}
    records: list[TokenRecord] = []
    if grant.scope:  # a user-scope-only install has no top-level access_token (2c)
        bot = tokens.mint_access(state, grant, "bot", grant.scope)
        records.append(bot)
        body["access_token"] = bot.token
        body["token_type"] = bot.kind
        body["scope"] = grant.scope
        body["bot_user_id"] = BOT_USER_ID
        if grant.rotation:
            body["expires_in"] = ROTATION_SECONDS
            body["refresh_token"] = tokens.mint_refresh(state, bot).token
    authed_user: Body = {"id": INSTALLER_USER_ID}
    if grant.user_scope:  # Slack issues a user token only for user scopes asked for
        user = tokens.mint_access(state, grant, "user", grant.user_scope)
        records.append(user)
        authed_user["scope"] = grant.user_scope
        authed_user["access_token"] = user.token
        authed_user["token_type"] = user.kind
        if grant.rotation:
            authed_user["expires_in"] = ROTATION_SECONDS
            authed_user["refresh_token"] = tokens.mint_refresh(state, user).token
    body["authed_user"] = authed_user
    body.update(_where(records[0], team_name=bool(grant.scope)))
    if WEBHOOK_SCOPE in grant.scope.split(","):  # and a webhook only for this scope (2d)
        body["incoming_webhook"] = tokens.webhook(grant)
    with state.lock:
        state.installs.append(
            Install(
                team_id=records[0].team_id,
                team_name=records[0].team_name,
                enterprise_id=records[0].enterprise_id,
                enterprise_name=records[0].enterprise_name,
                is_enterprise_install=grant.org_wide,
            )
        )
        state.issued.append(body)
    return body


def refresh(state: StandInState, refresh_token: str) -> Body:
    """Flat, one-token response; each refresh token works once (using-token-rotation)."""
    with state.lock:
        old = state.tokens.get(refresh_token)
        if old is None or old.kind != "refresh" or old.used or old.revoked:
            return error("invalid_refresh_token")
        old.used = True
        # The access token this refresh token renewed is replaced by the new one.
        replaced = state.tokens.get(old.pair or "")
        if replaced is not None:
            replaced.revoked = True
        new = tokens.mint_renewed(state, old)
        body: Body = {
            "ok": True,
            "app_id": APP_ID,
            "access_token": new.token,
            "expires_in": ROTATION_SECONDS,
            "refresh_token": tokens.mint_refresh(state, new).token,
            "token_type": new.kind,
            "scope": new.scopes,
        }
        body["bot_user_id" if new.kind == "bot" else "user_id"] = new.user_id
        body.update(_where(new))
        state.issued.append(body)
        return body
