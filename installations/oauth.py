"""The Add to Slack flow (services): start an install, finish it from Slack's callback.

docs.slack.dev/authentication/installing-with-oauth. The redirect URI always comes from the
settings (never from the request's Host), and is sent identically to the authorize page and to
``oauth.v2.access``. A failure after Slack issued tokens leaves the database as it was and the
issued tokens are revoked (DESIGN.md, "Rules that do not bend").
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from django.urls import reverse
from django.views.decorators.debug import sensitive_variables
from slack_sdk.oauth import AuthorizeUrlGenerator

from . import slack_api
from .conf import slack_config
from .errors import InvalidTeam, NotConfigured, SlackInstallError, StorageFailed
from .models import Workspace
from .oauth_response import check_answer, issued_tokens, to_installation
from .oauth_state import issue_state
from .persistence import save_installation

logger = logging.getLogger(__name__)

TEAM_ID = re.compile(r"^T[A-Z0-9]{2,31}$")


@dataclass(frozen=True)
class StartedInstall:
    state: str
    authorize_url: str


def clean_team(team: str | None) -> str | None:
    """A ``?team=`` hint (the reinstall link staff send): a workspace id, or InvalidTeam."""
    if team is None or team == "":
        return None
    if not TEAM_ID.match(team):
        raise InvalidTeam()
    return team


def _enc(value: str) -> str:
    return quote(value, safe="")


def authorize_url(state: str, team: str | None = None) -> str:
    """The v2 authorize URL. slack_sdk's generator pastes values in raw, so each is encoded."""
    config = slack_config()
    generator = AuthorizeUrlGenerator(
        client_id=_enc(config.client_id),
        redirect_uri=_enc(config.redirect_uri),
        scopes=[_enc(s) for s in config.scopes],
        user_scopes=[_enc(s) for s in config.user_scopes],
        authorization_url=config.authorize_url,
    )
    return generator.generate(_enc(state), team=_enc(team) if team else None)


def require_configured() -> None:
    config = slack_config()
    if not config.is_configured:
        raise NotConfigured(config.missing_variables)


def install_page_url(team: str | None = None) -> str:
    """The public install page: the redirect URI's origin (never a request's Host) + path."""
    origin = urlsplit(slack_config().redirect_uri)
    url = f"{origin.scheme}://{origin.netloc}{reverse('slack-install')}"
    return url + ("?" + urlencode({"team": team}) if team else "")


def start_install(team: str | None = None) -> StartedInstall:
    """Issue a state and build the authorize URL for it; ``team`` must be clean already."""
    require_configured()
    state = issue_state(team_hint=team or "")
    return StartedInstall(state=state, authorize_url=authorize_url(state, team))


@sensitive_variables("code", "body", "installation")
def complete_install(code: str) -> Workspace:
    """Exchange ``code``, learn the bot id, save; revoke what Slack issued if we cannot keep it."""
    config = slack_config()
    body = slack_api.exchange_code(code).data
    try:
        check_answer(body, wants_bot=bool(config.scopes), known_app_id=_known_app_id())
        bot_id, enterprise_url = _auth_test(body)
        installation = to_installation(body, bot_id=bot_id, enterprise_url=enterprise_url)
    except Exception:  # ours (SlackInstallError) or unexpected: issued tokens must not stay alive
        _revoke_issued(body)
        raise
    try:
        workspace, _ = save_installation(
            installation, client_id=config.client_id, source="oauth", actor="slack"
        )
    except Exception as exc:  # DatabaseError, or anything else: nothing was kept
        logger.error(
            "install could not be saved: %s team=%s enterprise=%s",
            type(exc).__name__,
            installation.team_id or "-",
            installation.enterprise_id or "-",
        )
        _revoke_issued(body)
        raise StorageFailed() from None
    return workspace


def _known_app_id() -> str | None:
    """SLACK_APP_ID, else the app id already stored for our client id (one client, one app)."""
    if slack_config().app_id:
        return slack_config().app_id
    found = (
        Workspace.objects.filter(client_id=slack_config().client_id)
        .exclude(app_id="")
        .values_list("app_id", flat=True)
        .first()
    )
    return found or None


@sensitive_variables("body", "token")
def _auth_test(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """bot_id and (org-wide installs) the org url, from auth.test with the new token."""
    token = body.get("access_token") or (body.get("authed_user") or {}).get("access_token")
    answer = slack_api.auth_test(token)
    bot_id = answer.get("bot_id") if body.get("access_token") else None
    url = answer.get("url") if body.get("is_enterprise_install") is True else None
    return bot_id, url


@sensitive_variables("body", "tokens", "token")
def _revoke_issued(body: dict[str, Any]) -> None:
    """auth.revoke each token Slack just issued; the outcome is logged by team id only."""
    tokens = issued_tokens(body)
    keep = _stored_tokens(body)
    team = (body.get("team") or {}).get("id") or (body.get("enterprise") or {}).get("id") or "-"
    revoked = 0
    for token in tokens:
        if token in keep:
            # Without rotation a reinstall may hand back the live token: revoking it would
            # uninstall the working installation (security-checklist §4).
            continue
        try:
            revoked += 1 if slack_api.revoke(token) else 0
        except SlackInstallError as exc:
            logger.warning("revoking an issued token failed team=%s reason=%s", team, exc.reason)
    logger.warning("revoked %s of %s issued tokens team=%s", revoked, len(tokens), team)


@sensitive_variables("stored")
def _stored_tokens(body: dict[str, Any]) -> set[str]:
    """The live tokens stored for this target (its bot, the installing user's current token):
    without rotation Slack hands the same ones back on a reinstall."""
    team = (body.get("team") or {}).get("id") or ""
    enterprise = (body.get("enterprise") or {}).get("id") or ""
    if body.get("is_enterprise_install") is True:
        team = ""
    user_id = (body.get("authed_user") or {}).get("id") or ""
    try:
        found = Workspace.objects.filter(
            client_id=slack_config().client_id, enterprise_id=enterprise, team_id=team
        ).first()
        if found is None:
            return set()
        stored = {found.bot_token}
        current = found.installations.filter(user_id=user_id, is_current=True).first()
        if current is not None:
            stored |= {current.user_token, current.user_refresh_token}
    except Exception:  # the database may be the thing that failed; then revoke everything
        return set()
    return {token for token in stored if token}
