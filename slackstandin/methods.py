"""Web API methods the stand-in answers: oauth.v2.access, auth.test, auth.revoke.

docs.slack.dev/reference/methods/auth.test and /auth.revoke; errors come back as HTTP 200 with
``{"ok": false, "error": ...}``. Every answer to a live token carries ``x-oauth-scopes`` in lower
case, as Slack sends it (slack_sdk keeps header casing, so casing matters to clients).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from . import messaging, oauth
from .state import APP_ID, BOT_ID, Call, StandInState, TokenRecord, slug


@dataclass
class Answer:
    body: dict[str, Any]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


def token_error(record: TokenRecord | None) -> str | None:
    """Slack's code for a token that cannot be used, or None when it is alive."""
    if record is None or record.kind == "refresh":
        return "invalid_auth"
    if record.error:
        return record.error
    if record.revoked:
        return "token_revoked"
    if record.expires_at is not None and record.expires_at <= time.time():
        return "token_expired"
    return None


def _live_token(state: StandInState, call: Call) -> TokenRecord | Answer:
    if not call.token:
        return Answer({"ok": False, "error": "not_authed"})
    with state.lock:
        record = state.tokens.get(call.token)
        problem = token_error(record)
    if problem or record is None:
        return Answer({"ok": False, "error": problem or "invalid_auth"})
    return record


def _scope_headers(record: TokenRecord) -> dict[str, str]:
    return {"x-oauth-scopes": record.scopes}


def auth_test(state: StandInState, call: Call) -> Answer:
    record = _live_token(state, call)
    if isinstance(record, Answer):
        return record
    if record.is_enterprise_install:
        # An org-wide token speaks for the org: its url is the org's (docs/slack-protocol.md §5).
        url = f"https://{slug(record.enterprise_name or '')}.enterprise.slack.com/"
        team_name, team_id = record.enterprise_name, record.enterprise_id
    else:
        url = f"https://{slug(record.team_name or '')}.slack.com/"
        team_name, team_id = record.team_name, record.team_id
    body: dict[str, Any] = {
        "ok": True,
        "url": url,
        "team": team_name,
        "user": "standin-bot" if record.kind == "bot" else "standin-installer",
        "team_id": team_id,
        "user_id": record.user_id,
    }
    if record.kind == "bot":
        body["bot_id"] = BOT_ID
    if record.enterprise_id:
        body["enterprise_id"] = record.enterprise_id
    body["is_enterprise_install"] = record.is_enterprise_install
    body["app_id"] = APP_ID
    body["app_name"] = "Stand-in App"
    if record.expires_at is not None:
        body["expires_in"] = max(0, int(record.expires_at - time.time()))
    return Answer(body, headers=_scope_headers(record))


def auth_revoke(state: StandInState, call: Call) -> Answer:
    """Revokes the calling token only; ``test=1`` is a dry run that revokes nothing.

    With rotation a refresh token can be revoked on its own too (auth.revoke "revokes only that
    one token: refresh, expiring bot, or expiring user"); a spent one is invalid_auth.
    """
    with state.lock:
        found = state.tokens.get(call.token or "")
    live_refresh = found is not None and found.kind == "refresh" and not found.used
    record: TokenRecord | Answer
    if found is not None and live_refresh and not found.revoked:
        record = found
    else:
        record = _live_token(state, call)
    if isinstance(record, Answer):
        return record
    dry_run = call.params.get("test", "").lower() in ("1", "true")
    if not dry_run:
        with state.lock:
            record.revoked = True
    return Answer({"ok": True, "revoked": not dry_run}, headers=_scope_headers(record))


def chat_post_message(state: StandInState, call: Call) -> Answer:
    record = _live_token(state, call)
    if isinstance(record, Answer):
        return record
    body = messaging.post_message(record.team_id, call, state.outbox)
    return Answer(body, headers=_scope_headers(record))


def dispatch(state: StandInState, call: Call, *, client_id: str, client_secret: str) -> Answer:
    if call.method == "oauth.v2.access":
        return Answer(oauth.access(state, call, client_id, client_secret))
    if call.method == "auth.test":
        return auth_test(state, call)
    if call.method == "auth.revoke":
        return auth_revoke(state, call)
    if call.method in ("openid.connect.token", "openid.connect.userInfo"):
        from . import oidc  # Sign in with Slack (slackstandin/oidc.py)

        if call.method == "openid.connect.token":
            return Answer(oidc.token(state, call, client_id, client_secret))
        return Answer(oidc.userinfo(state, call))
    if call.method == "chat.postMessage":
        return chat_post_message(state, call)
    return Answer({"ok": False, "error": "unknown_method"}, status=404)
