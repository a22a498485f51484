"""The Add to Slack flow (services): start an install, finish it from Slack's callback.

docs.slack.dev/authentication/installing-with-oauth. The redirect URI always comes from the
settings (never from the request's Host), and is sent identically to the authorize page and to
``oauth.v2.access``. A failure after Slack issued tokens leaves the database as it was and the
issued tokens are revoked (docs/security.md, "Threat model").
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from django.http import HttpRequest
from django.urls import reverse
from django.utils.module_loading import import_string
from django.views.decorators.debug import sensitive_variables
from slack_sdk.oauth import AuthorizeUrlGenerator

from installations import signals
from installations.conf import slack_config, text_setting
from installations.encryption.fields import EncryptedDataError
from installations.exceptions import (
    InvalidTeam,
    NotConfigured,
    StorageFailed,
    UnexpectedAnswer,
)
from installations.infrastructure.shared_cache import cache_key, get_or_compute
from installations.install import pkce
from installations.install.cookie import BROWSER_BYTES, binding
from installations.install.state import issue_state
from installations.lifecycle.saving import save_installation
from installations.models import Workspace
from installations.slack import api as slack_api
from installations.slack.answers import (
    SLACK_ID,
    InstallAnswer,
    IssuedCredentials,
    TokenOwner,
    UnusableInstallAnswer,
    auth_test_answer,
    foreign_fields,
    owner_unsaid,
)
from installations.slack.install_answer import (
    ensure_answer_is_our_install,
    sdk_installation_from_answer,
)

logger = logging.getLogger(__name__)

# Matched with fullmatch: ``re.match`` with ``$`` accepts a trailing newline ("T0ABC\n").
TEAM_ID = re.compile(r"T[A-Z0-9]{2,31}")


@dataclass(frozen=True)
class StartedInstall:
    state: str
    authorize_url: str


def clean_team(team: str | None) -> str | None:
    """A ``?team=`` hint (the reinstall link staff send): a workspace id, or InvalidTeam."""
    if team is None or team == "":
        return None
    if not TEAM_ID.fullmatch(team):
        raise InvalidTeam()
    return team


def _enc(value: str) -> str:
    return quote(value, safe="")


def authorize_url(state: str, team: str | None = None, *, code_challenge: str = "") -> str:
    """The v2 authorize URL. slack_sdk's generator pastes values in raw, so each is encoded;
    it knows no PKCE, so a ``code_challenge`` (S256, pkce.py) is appended after it."""
    config = slack_config()
    generator = AuthorizeUrlGenerator(
        client_id=_enc(config.client_id),
        redirect_uri=_enc(config.redirect_uri),
        scopes=[_enc(s) for s in config.scopes],
        user_scopes=[_enc(s) for s in config.user_scopes],
        authorization_url=config.authorize_url,
    )
    url = generator.generate(_enc(state), team=_enc(team) if team else None)
    if code_challenge:
        url += "&" + urlencode(
            {"code_challenge": code_challenge, "code_challenge_method": pkce.CHALLENGE_METHOD}
        )
    return url


def require_configured() -> None:
    config = slack_config()
    if not config.is_configured:
        raise NotConfigured(config.missing_variables)


def install_page_path(team: str | None = None) -> str:
    """Our install page's path; with ``team`` a reinstall link that preselects that workspace
    (an org-wide install has no team id: pass "" or None for the plain page)."""
    path = reverse("installations:install")
    return path + ("?" + urlencode({"team": team}) if team else "")


def install_page_url(team: str | None = None) -> str:
    """``install_page_path`` on the public origin: the redirect URI's (never a request's Host),
    for links that leave the site (the admin's reinstall link, ``slack_install_url``)."""
    origin = urlsplit(slack_config().redirect_uri)
    return f"{origin.scheme}://{origin.netloc}{install_page_path(team)}"


@sensitive_variables("browser_value")
def start_install(
    team: str | None = None, *, browser_value: str = "", next_page: str = ""
) -> StartedInstall:
    """Issue a state bound to ``browser_value`` and build the authorize URL for it (``team``
    clean already); without one (``slack_install_url``) no callback accepts the state."""
    require_configured()
    use_pkce = slack_config().pkce
    state = issue_state(
        team_hint=team or "",
        browser=binding(browser_value) if browser_value else "",
        next_page=next_page,
        pkce=use_pkce,
    )
    challenge = ""
    if use_pkce:
        secret = browser_value or secrets.token_urlsafe(BROWSER_BYTES)
        challenge = pkce.challenge_for(pkce.verifier_for(state, secret))
    return StartedInstall(
        state=state, authorize_url=authorize_url(state, team, code_challenge=challenge)
    )


@sensitive_variables("code", "code_verifier", "answer", "installation")
def complete_install(
    code: str,
    *,
    request: HttpRequest | None = None,
    custom_values: Mapping[str, Any] | None = None,
    code_verifier: str = "",
) -> Workspace:
    """Exchange ``code``, learn the bot id, save; revoke what Slack issued if we cannot keep it.
    With ``request``, its user is ``installed_by`` and ``installation_completed`` is sent."""
    config = slack_config()
    try:
        answer = slack_api.exchange_code(code, code_verifier=code_verifier)
    except UnusableInstallAnswer as exc:  # tokens in an answer we cannot use: still revoked
        _revoke_issued(exc.issued)
        raise
    try:
        ensure_answer_is_our_install(
            answer, wants_bot=bool(config.scopes), known_app_id=known_app_id()
        )
        bot_id, enterprise_url = _auth_test(answer)
        installation = sdk_installation_from_answer(
            answer, bot_id=bot_id, enterprise_url=enterprise_url
        )
        installation.custom_values = dict(custom_values or {})
    except Exception:  # ours (SlackInstallError) or unexpected: issued tokens must not stay alive
        _revoke_issued(answer.issued)
        raise
    try:
        workspace, row = save_installation(
            installation,
            client_id=config.client_id,
            source="oauth",
            actor="slack",
            installed_by=_logged_in_user(request),
        )
    except Exception as exc:  # DatabaseError, or anything else: nothing was kept
        logger.error(
            "install could not be saved: %s team=%s enterprise=%s",
            type(exc).__name__,
            installation.team_id or "-",
            installation.enterprise_id or "-",
        )
        _revoke_issued(answer.issued)
        raise StorageFailed() from None
    signals.send_after_commit(
        signals.installation_completed,
        Workspace,
        workspace=workspace,
        installation=row,
        request=request,
    )
    return workspace


def _logged_in_user(request: HttpRequest | None) -> Any:
    """The host site's user behind the callback, or None (anonymous, or no auth middleware)."""
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def custom_values_for(request: HttpRequest) -> dict[str, Any]:
    """What SLACK_INSTALL_CUSTOM_VALUES(request) returns; not a dict is a TypeError."""
    path = text_setting("SLACK_INSTALL_CUSTOM_VALUES")
    if not path:
        return {}
    values = import_string(path)(request)
    if not isinstance(values, dict):
        raise TypeError("SLACK_INSTALL_CUSTOM_VALUES must return a dict")
    return values


# A client id belongs to one Slack app for good: once an app id is stored for it, it stays the
# answer, so it is cached (a callback then skips a query). Nothing stored yet is not cached.
KNOWN_APP_ID_SECONDS = 3600


def known_app_id() -> str | None:
    """SLACK_APP_ID, else the app id already stored for our client id (one client, one app)."""
    config = slack_config()
    if config.app_id:
        return config.app_id
    key = cache_key("known_app_id", config.client_id)
    return get_or_compute(
        key, lambda: _stored_app_id(config.client_id), KNOWN_APP_ID_SECONDS, _valid_app_id
    )


def _valid_app_id(value: object) -> str | None:
    """A cached app id as ``_stored_app_id`` returns it, or None (a wrong shape is a miss)."""
    return value if isinstance(value, str) and SLACK_ID.fullmatch(value) else None


def _stored_app_id(client_id: str) -> str | None:
    found = (
        Workspace.objects.filter(client_id=client_id)
        .exclude(app_id="")
        .values_list("app_id", flat=True)
        .first()
    )
    return found or None


@sensitive_variables("answer", "token")
def _auth_test(answer: InstallAnswer) -> tuple[str | None, str | None]:
    """bot_id and (org-wide installs) the org url, from auth.test with the new token, which
    must be a token of the app, workspace or org that oauth.v2.access named."""
    user_token = answer.authed_user.access_token if answer.authed_user else None
    token = answer.access_token or user_token
    if token is None:  # ensure_answer_is_our_install asks for one of them: never here
        raise UnexpectedAnswer()
    tested = auth_test_answer(slack_api.auth_test(token).data)
    owner = TokenOwner.of(answer)
    problems = owner_unsaid(tested, org_wide=owner.is_enterprise_install)
    problems += foreign_fields(tested, owner)
    if problems:  # a token of another install than oauth.v2.access said: keep none of it
        logger.warning(
            "unexpected auth.test answer for a new install: fields %s", ",".join(problems)
        )
        raise UnexpectedAnswer()
    bot_id = tested.bot_id if answer.access_token else None
    url = tested.url if answer.is_enterprise_install else None
    if (answer.access_token and bot_id is None) or (answer.is_enterprise_install and url is None):
        logger.warning("unexpected auth.test answer for a new install: no bot_id or org url")
        raise UnexpectedAnswer()
    return bot_id, url


@sensitive_variables("issued", "keep", "token")
def _revoke_issued(issued: IssuedCredentials) -> None:
    """auth.revoke each token Slack just issued (well-typed strings only); logged by team id."""
    keep = _stored_tokens(issued)
    # Without rotation a reinstall may hand back the live token: revoking it would uninstall
    # the working installation (docs/security.md).
    tokens = [token for token in issued.tokens if token not in keep]
    team = issued.team_id or issued.enterprise_id or "-"
    slack_api.revoke_all(tokens, label=f"team={team}")


@sensitive_variables("issued", "stored")
def _stored_tokens(issued: IssuedCredentials) -> set[str]:
    """The live tokens stored for this target (its bot, the installing user's current token):
    without rotation Slack hands the same ones back on a reinstall."""
    team = "" if issued.is_enterprise_install else issued.team_id
    try:
        found = Workspace.objects.filter(
            client_id=slack_config().client_id, enterprise_id=issued.enterprise_id, team_id=team
        ).first()
        if found is None:
            return set()
        stored = {found.bot_token}
        current = found.installations.filter(user_id=issued.user_id, is_current=True).first()
        if current is not None:
            stored |= {current.user_token, current.user_refresh_token}
    except EncryptedDataError as exc:
        # Which issued token is the stored, live one cannot be told without the key: revoking
        # could uninstall a working installation because this process lacks a key. Keep them.
        logger.error("issued tokens not revoked: stored tokens are unreadable here (%s)", exc)
        return set(issued.tokens)
    except Exception:  # the database may be the thing that failed; then revoke everything
        return set()
    return {token for token in stored if token}
