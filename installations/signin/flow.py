"""The sign-in flow: start it (a state bound to this browser, a nonce), finish it from Slack.

The install flow's state and browser binding, under a salt of their own; the OIDC ``nonce`` is
an HMAC of the state (spent once, so an id_token is accepted once). The callback checks the
cookie before spending the state, so a forged callback cannot burn the real browser's state.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

from django.urls import reverse
from django.utils.crypto import salted_hmac
from django.views.decorators.debug import sensitive_variables
from slack_sdk.oauth import OpenIDConnectAuthorizeUrlGenerator

from installations.conf import slack_config
from installations.exceptions import safe_code
from installations.install.cookie import cookie_binding
from installations.install.state import (
    StateCheck,
    StatePayload,
    consume_state,
    is_bound_to,
    issue_state,
)
from installations.install.state import read_state as read_signed_state
from installations.signin import errors
from installations.signin.conf import SCOPES, signin_config
from installations.signin.exchange import exchange_code, revoke_quietly
from installations.signin.id_token import SlackUser, verify_id_token

logger = logging.getLogger(__name__)

SIGNIN_SALT = "installations.signin.state"
NONCE_SALT = "installations.signin.nonce"
COOKIE_NAME = "slack-signin-browser"
NEXT_COOKIE_NAME = "slack-signin-next"
MAX_PARAM_LENGTH = 512


def require_available() -> None:
    config = signin_config()
    if not config.enabled:
        raise errors.SignInDisabled()
    slack = slack_config()
    if not (slack.client_id and slack.client_secret and config.redirect_uri):
        raise errors.SignInNotConfigured()


def nonce_for(state: str) -> str:
    return salted_hmac(NONCE_SALT, state, algorithm="sha256").hexdigest()


def cookie_path() -> str:
    """The deepest path that holds both the start page and the callback (the browser cookie is
    read by both: the start reuses it, so two tabs of one browser can both finish)."""
    callback = urlsplit(signin_config().redirect_uri).path or "/"
    return posixpath.commonpath([callback, reverse("slack_signin:start")]) or "/"


def _enc(value: str) -> str:
    return quote(value, safe="")


def start_signin(*, browser: str) -> str:
    """Slack's authorize URL for a new state bound to ``browser`` (the binding hash)."""
    require_available()
    state = issue_state(browser=browser, salt=SIGNIN_SALT)
    generator = OpenIDConnectAuthorizeUrlGenerator(
        client_id=_enc(slack_config().client_id),
        redirect_uri=_enc(signin_config().redirect_uri),
        scopes=list(SCOPES),
        authorization_url=signin_config().authorize_url,
    )
    return generator.generate(state=_enc(state), nonce=_enc(nonce_for(state)))


@sensitive_variables("query", "cookie", "state", "code", "answer")
def finish_signin(query: Mapping[str, str], cookie: str | None) -> SlackUser:
    """The verified Slack user, or a SlackInstallError (a SignInError, or Slack's refusal)."""
    require_available()
    state = query.get("state") or ""
    error = query.get("error")
    if error is not None:
        found = read_signed_state(state, salt=SIGNIN_SALT)
        if found.check is StateCheck.LIVE and found.payload and _bound(found.payload, cookie):
            consume_state(state, found.payload)
        if error == "access_denied":
            raise errors.SignInCancelled()
        raise errors.SignInRefused(reason=safe_code(error))
    if not state:
        raise errors.MissingState()
    found = read_signed_state(state, salt=SIGNIN_SALT)
    if found.check is StateCheck.EXPIRED:
        raise errors.ExpiredState()
    if found.check is not StateCheck.LIVE or found.payload is None:
        raise errors.InvalidState()
    if not cookie:
        raise errors.MissingCookie()
    if not _bound(found.payload, cookie):
        raise errors.BrowserMismatch()
    if not consume_state(state, found.payload):
        raise errors.UsedState()
    code = query.get("code") or ""
    if not code or len(code) > MAX_PARAM_LENGTH:
        raise errors.MissingCode()
    answer = exchange_code(code)
    try:  # whatever fails from here on, the user token Slack just issued is revoked
        if not answer.id_token:
            raise errors.BadIdToken("missing_id_token")
        return verify_id_token(answer.id_token, nonce=nonce_for(state))
    finally:
        revoke_quietly(answer.access_token)


@sensitive_variables("cookie")
def _bound(payload: StatePayload, cookie: str | None) -> bool:
    browser = cookie_binding(cookie) if cookie else None
    return browser is not None and is_bound_to(payload, browser)
