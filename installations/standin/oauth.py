"""``oauth.v2.access``: client authentication, code exchange and token refresh.

Shapes and error codes follow docs.slack.dev/reference/methods/oauth.v2.access and
docs.slack.dev/authentication/using-token-rotation (see slack-facts.md sections 2 to 4).
"""

from __future__ import annotations

import time
from typing import Any

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
    enterprise_name_for,
    new_hex,
    slug,
    team_name_for,
)

Body = dict[str, Any]


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


def _team(record: TokenRecord) -> dict[str, str] | None:
    return None if record.team_id is None else {"id": record.team_id, "name": record.team_name}


def _enterprise(record: TokenRecord) -> dict[str, str] | None:
    if record.enterprise_id is None:
        return None
    return {"id": record.enterprise_id, "name": record.enterprise_name}


def _token(state: StandInState, grant: Grant, kind: str, scopes: str, **extra: Any) -> TokenRecord:
    prefix = "xoxb" if kind == "bot" else "xoxp"
    if grant.rotation:
        value = f"xoxe.{prefix}-1-standin-{new_hex()}"
    else:
        value = f"{prefix}-standin-{new_hex()}"
    return state.add_token(
        TokenRecord(
            token=value,
            kind=kind,
            team_id=grant.team_id,
            team_name=team_name_for(grant.team_id) if grant.team_id else None,
            enterprise_id=grant.enterprise_id,
            enterprise_name=enterprise_name_for(grant.enterprise_id)
            if grant.enterprise_id
            else None,
            user_id=BOT_USER_ID if kind == "bot" else INSTALLER_USER_ID,
            scopes=scopes,
            is_enterprise_install=grant.org_wide,
            expires_at=time.time() + ROTATION_SECONDS if grant.rotation else None,
            **extra,
        )
    )


def _refresh_token_for(state: StandInState, access_record: TokenRecord) -> str:
    record = TokenRecord(
        token=f"xoxe-1-standin-{new_hex()}",
        kind="refresh",
        team_id=access_record.team_id,
        team_name=access_record.team_name,
        enterprise_id=access_record.enterprise_id,
        enterprise_name=access_record.enterprise_name,
        user_id=access_record.user_id,
        scopes=access_record.scopes,
        is_enterprise_install=access_record.is_enterprise_install,
        refreshes=access_record.kind,
        pair=access_record.token,
    )
    return state.add_token(record).token


def _redeem(state: StandInState, call: Call) -> Grant | str:
    """The grant for this code, spent; or an error code. Codes are single-use, 10 minutes."""
    with state.lock:
        grant = state.grants.get(call.params.get("code", ""))
        if grant is None or grant.used:
            return "invalid_code"
        if time.time() - grant.created_at > state.code_ttl_seconds:
            return "invalid_code"
        if grant.redirect_uri is not None and call.params.get("redirect_uri") != grant.redirect_uri:
            return "bad_redirect_uri"
        grant.used = True
        return grant


def exchange_code(state: StandInState, call: Call) -> Body:
    grant = _redeem(state, call)
    if isinstance(grant, str):
        return error(grant)
    body: Body = {"ok": True, "app_id": APP_ID}
    bot: TokenRecord | None = None
    if grant.scope:
        bot = _token(state, grant, "bot", grant.scope)
        body["access_token"] = bot.token
        body["token_type"] = bot.kind
        body["scope"] = grant.scope
        body["bot_user_id"] = BOT_USER_ID
        if grant.rotation:
            body.update(expires_in=ROTATION_SECONDS, refresh_token=_refresh_token_for(state, bot))
    authed_user: Body = {"id": INSTALLER_USER_ID}
    if grant.user_token or grant.user_scope:
        user = _token(state, grant, "user", grant.user_scope)
        authed_user["scope"] = grant.user_scope
        authed_user["access_token"] = user.token
        authed_user["token_type"] = user.kind
        if grant.rotation:
            authed_user["expires_in"] = ROTATION_SECONDS
            authed_user["refresh_token"] = _refresh_token_for(state, user)
    body["authed_user"] = authed_user
    sample = bot or state.tokens[authed_user["access_token"]]
    body["team"] = _team(sample)
    body["enterprise"] = _enterprise(sample)
    body["is_enterprise_install"] = grant.org_wide
    if grant.webhook:
        body["incoming_webhook"] = _webhook(grant)
    with state.lock:
        state.installs.append(
            Install(
                team_id=sample.team_id,
                team_name=sample.team_name,
                enterprise_id=sample.enterprise_id,
                enterprise_name=sample.enterprise_name,
                is_enterprise_install=grant.org_wide,
            )
        )
        state.issued.append(body)
    return body


def _webhook(grant: Grant) -> dict[str, str]:
    """Each install creates a new webhook URL (slack-facts 2d); treat it as a secret."""
    owner = grant.team_id or grant.enterprise_id or "T0"
    hook_id = "B" + new_hex(5).upper()
    name = team_name_for(grant.team_id) if grant.team_id else "standin"
    return {
        "channel": grant.webhook_channel,
        "channel_id": "C0STANDIN1",
        "configuration_url": f"https://{slug(name)}.slack.com/services/{hook_id}",
        "url": f"https://hooks.slack.com/services/{owner}/{hook_id}/{new_hex(12)}",
    }


def refresh(state: StandInState, refresh_token: str) -> Body:
    """Flat, one-token response; each refresh token works once (using-token-rotation)."""
    with state.lock:
        old = state.tokens.get(refresh_token)
        if old is None or old.kind != "refresh" or old.used or old.revoked:
            return error("invalid_refresh_token")
        old.used = True
        kind = old.refreshes or "bot"
        # The access token this refresh token belonged to is replaced by the new one.
        replaced = state.tokens.get(old.pair or "")
        if replaced is not None:
            replaced.revoked = True
        prefix = "xoxb" if kind == "bot" else "xoxp"
        new = TokenRecord(
            token=f"xoxe.{prefix}-1-standin-{new_hex()}",
            kind=kind,
            team_id=old.team_id,
            team_name=old.team_name,
            enterprise_id=old.enterprise_id,
            enterprise_name=old.enterprise_name,
            user_id=old.user_id,
            scopes=old.scopes,
            is_enterprise_install=old.is_enterprise_install,
            expires_at=time.time() + ROTATION_SECONDS,
        )
        state.add_token(new)
        body: Body = {
            "ok": True,
            "app_id": APP_ID,
            "access_token": new.token,
            "expires_in": ROTATION_SECONDS,
            "refresh_token": _refresh_token_for(state, new),
            "token_type": kind,
            "scope": new.scopes,
        }
        if kind == "bot":
            body["bot_user_id"] = new.user_id
        else:
            body["user_id"] = new.user_id
        body.update(team=_team(new), enterprise=_enterprise(new))
        body["is_enterprise_install"] = new.is_enterprise_install
        state.issued.append(body)
        return body
