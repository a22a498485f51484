"""Slack's redirect back to us (``GET /slack/oauth_redirect``): the checks, in order.

1. Slack's ``error``: ``access_denied`` is a cancel, anything else a refusal.
2. No ``state``: an install started from Slack's own pages ("direct install"); never exchanged.
3. An expired state, then one we did not issue (malformed, tampered: "invalid").
4. A missing cookie, or one of another browser than the state's. Checked *before* spending, so
   a forged callback cannot burn the real browser's state (docs/security.md).
5. The state is spent by one INSERT of its hash; spent before means "already used".
6. No ``code``. Then the code is exchanged (``flow.complete_install``), with the PKCE verifier
   of this state and browser when its authorize URL carried a challenge (``pkce``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from installations.exceptions import (
    AuthorizeRefused,
    BrowserMismatch,
    ExpiredState,
    InstallCancelled,
    InvalidState,
    MissingCode,
    MissingCookie,
    MissingState,
    SlackInstallError,
    UsedState,
)
from installations.install.cookie import cookie_binding
from installations.install.flow import complete_install, custom_values_for
from installations.install.pkce import verifier_for
from installations.install.state import (
    StateCheck,
    StateRead,
    consume_state,
    is_bound_to,
    read_state,
)
from installations.models import Workspace

logger = logging.getLogger(__name__)

MAX_PARAM_LENGTH = 512  # Slack's codes are far shorter; longer is not one of Slack's


@dataclass(frozen=True)
class Completed:
    workspace: Workspace
    next_page: str  # "" or the install page's checked ?next= (next_page.py), from the state


@sensitive_variables("query", "code", "state", "cookie")
def handle_callback(
    query: Mapping[str, str], cookie: str | None, *, request: HttpRequest | None = None
) -> Completed:
    """The installed Workspace, or a SlackInstallError saying exactly what went wrong."""
    try:
        done = _handle(query, cookie, request)
    except SlackInstallError as exc:
        logger.info("install failed reason=%s status=%s", exc.reason, exc.status)
        raise
    workspace = done.workspace
    logger.info(
        "install completed team=%s enterprise=%s app=%s",
        workspace.team_id or "-",
        workspace.enterprise_id or "-",
        workspace.app_id or "-",
    )
    return done


@sensitive_variables("query", "code", "state", "cookie", "verifier")
def _handle(query: Mapping[str, str], cookie: str | None, request: HttpRequest | None) -> Completed:
    state = query.get("state") or ""
    error = query.get("error")
    if error is not None:
        # Spend a state that is really this browser's, so it cannot be replayed; never fail on it.
        found = read_state(state)
        if found.check is StateCheck.LIVE and found.payload and _bound(found, cookie):
            consume_state(state, found.payload)
        if error == "access_denied":
            raise InstallCancelled()
        raise AuthorizeRefused(error)
    if not state:
        raise MissingState()
    found = read_state(state)
    if found.check is StateCheck.EXPIRED:
        raise ExpiredState()
    if found.check is not StateCheck.LIVE or found.payload is None:
        raise InvalidState()
    if not cookie:
        raise MissingCookie()
    if not _bound(found, cookie):
        raise BrowserMismatch()
    if not consume_state(state, found.payload):
        raise UsedState()  # spent before, or another request with this state won the race
    code = query.get("code") or ""
    if not code or len(code) > MAX_PARAM_LENGTH:
        raise MissingCode()
    values = custom_values_for(request) if request is not None else {}
    # Bound above, so ``cookie`` is this state's browser value: the flow's PKCE verifier.
    verifier = verifier_for(state, cookie) if found.payload.pkce else ""
    workspace = complete_install(
        code, request=request, custom_values=values, code_verifier=verifier
    )
    return Completed(workspace, found.payload.next_page)


@sensitive_variables("cookie")
def _bound(found: StateRead, cookie: str | None) -> bool:
    """Whether the browser presenting ``cookie`` is the one the state was issued to."""
    browser = cookie_binding(cookie) if cookie else None
    return found.payload is not None and browser is not None and is_bound_to(found.payload, browser)
