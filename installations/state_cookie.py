"""The ``slack-app-oauth-state`` cookie that binds a state to the browser that started the flow.

Same name as slack_sdk's ``OAuthStateUtils`` (DESIGN.md). HttpOnly, SameSite=Lax (Slack's
redirect back is a top-level GET, which Lax allows), Secure over https, Max-Age = the state's
lifetime, and a Path limited to the callback, so no other page ever receives it
(security-checklist test 19; python-slack-sdk #1647 for quoted values).
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse

from .conf import slack_config

COOKIE_NAME = "slack-app-oauth-state"


def cookie_path() -> str:
    """The callback's path, taken from the configured redirect URI (never from the request)."""
    return urlsplit(slack_config().redirect_uri).path or "/"


def set_state_cookie(request: HttpRequest, response: HttpResponse, state: str) -> None:
    response.set_cookie(
        COOKIE_NAME,
        state,
        max_age=slack_config().state_ttl_seconds,
        path=cookie_path(),
        secure=request.is_secure(),
        httponly=True,
        samesite="Lax",
    )


def delete_state_cookie(response: HttpResponse) -> None:
    response.delete_cookie(COOKIE_NAME, path=cookie_path(), samesite="Lax")


def read_state_cookie(request: HttpRequest) -> str | None:
    """The cookie's state, unquoted (some proxies and clients send ``"value"``)."""
    value = request.COOKIES.get(COOKIE_NAME)
    if value is None:
        return None
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value or None


def cookie_matches(cookie_value: str, state: str) -> bool:
    return hmac.compare_digest(cookie_value.encode("utf-8"), state.encode("utf-8"))
