"""Slack's redirect back to us (``GET /slack/oauth_redirect``): the checks, in order.

1. Slack's ``error`` (docs.slack.dev/authentication/installing-with-oauth): ``access_denied`` is a
   cancel, anything else a refusal; handled before ``code`` because a cancel carries none.
2. No ``state``: an install started from Slack's own pages (slack-facts §1). Never exchanged.
3. An unknown (never issued, or already used) or expired state.
4. A missing cookie, or one holding another state. Checked *before* consuming, so a forged
   callback cannot burn the real browser's state (security-checklist test 12).
5. The state is consumed by one conditional DELETE; the loser of a race sees InvalidState.
6. No ``code``. Then the code is exchanged (``oauth.complete_install``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from django.views.decorators.debug import sensitive_variables

from .errors import (
    AuthorizeRefused,
    BrowserMismatch,
    ExpiredState,
    InstallCancelled,
    InvalidState,
    MissingCode,
    MissingCookie,
    MissingState,
    SlackInstallError,
)
from .models import Workspace
from .oauth import complete_install
from .oauth_state import StateCheck, check_state, consume_state
from .state_cookie import cookie_matches

logger = logging.getLogger(__name__)

MAX_PARAM_LENGTH = 512  # Slack's codes and our states are far shorter; longer is not ours


@sensitive_variables("query", "code", "state", "cookie")
def handle_callback(query: Mapping[str, str], cookie: str | None) -> Workspace:
    """The installed Workspace, or a SlackInstallError saying exactly what went wrong."""
    try:
        workspace = _handle(query, cookie)
    except SlackInstallError as exc:
        logger.info("install failed reason=%s status=%s", exc.reason, exc.status)
        raise
    logger.info(
        "install completed team=%s enterprise=%s app=%s",
        workspace.team_id or "-",
        workspace.enterprise_id or "-",
        workspace.app_id or "-",
    )
    return workspace


@sensitive_variables("query", "code", "state", "cookie")
def _handle(query: Mapping[str, str], cookie: str | None) -> Workspace:
    state = (query.get("state") or "")[:MAX_PARAM_LENGTH]
    error = query.get("error")
    if error is not None:
        # Spend a state that is really this browser's, so it cannot be replayed; never fail on it.
        if state and cookie and cookie_matches(cookie, state):
            consume_state(state)
        if error == "access_denied":
            raise InstallCancelled()
        raise AuthorizeRefused(error)
    if not state:
        raise MissingState()
    found = check_state(state)
    if found is StateCheck.EXPIRED:
        raise ExpiredState()
    if found is StateCheck.UNKNOWN:
        raise InvalidState()
    if not cookie:
        raise MissingCookie()
    if not cookie_matches(cookie, state):
        raise BrowserMismatch()
    if not consume_state(state):
        raise InvalidState()  # another request with this state won the race
    code = query.get("code") or ""
    if not code or len(code) > MAX_PARAM_LENGTH:
        raise MissingCode()
    return complete_install(code)
