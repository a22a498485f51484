"""The cookie that binds a state to the browser that started the flow (RFC 9700 §4.7.1).

A random per-browser value, reused while present (two install tabs can both finish); each state
carries its hash, and a callback is accepted only from the browser whose cookie matches. Two
cookies carry it, one per Path (the callback's, ``slack-app-oauth-state``; the install page's,
``slack-app-oauth-browser``); both HttpOnly, SameSite=Lax (Slack's redirect back is a top-level
GET), Secure over https, and never deleted by the callback (another tab may be on its way back).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from installations.conf import slack_config

COOKIE_NAME = "slack-app-oauth-state"
INSTALL_COOKIE_NAME = "slack-app-oauth-browser"
BROWSER_BYTES = 32
BROWSER_VALUE = re.compile(r"[A-Za-z0-9_-]{43}")  # token_urlsafe(32)


def cookie_path() -> str:
    """The callback's path, taken from the configured redirect URI (never from the request)."""
    return urlsplit(slack_config().redirect_uri).path or "/"


def install_cookie_path() -> str:
    return reverse("installations:install")


def binding(browser_value: str) -> str:
    """What a state carries of the browser's value: its SHA-256 (the value itself stays
    HttpOnly in the browser; states travel through Slack and the browser's history)."""
    digest = hashlib.sha256(browser_value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _unquoted(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value or None


def read_state_cookie(request: HttpRequest) -> str | None:
    """The callback cookie's value, unquoted (some proxies and clients send ``"value"``)."""
    return _unquoted(request.COOKIES.get(COOKIE_NAME))


def cookie_binding(cookie_value: str) -> str | None:
    """The binding of a cookie value, or None when the value is not one we could have set."""
    if not BROWSER_VALUE.fullmatch(cookie_value):
        return None
    return binding(cookie_value)


def browser_value_for_install(request: HttpRequest) -> str:
    """This browser's value: reused when it already has one, else a new random one."""
    for name in (INSTALL_COOKIE_NAME, COOKIE_NAME):
        value = _unquoted(request.COOKIES.get(name))
        if value is not None and BROWSER_VALUE.fullmatch(value):
            return value
    return secrets.token_urlsafe(BROWSER_BYTES)


def set_state_cookies(request: HttpRequest, response: HttpResponse, browser_value: str) -> None:
    for name, path in ((COOKIE_NAME, cookie_path()), (INSTALL_COOKIE_NAME, install_cookie_path())):
        response.set_cookie(
            name,
            browser_value,
            max_age=slack_config().state_ttl_seconds,
            path=path,
            secure=request.is_secure(),
            httponly=True,
            samesite="Lax",
        )
