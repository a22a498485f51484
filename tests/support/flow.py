"""The Add to Slack flow as a browser walks it, over Django's test client.

``Flow`` (the ``flow`` fixture of tests/conftest.py) drives the real views over the real
database, and the real stand-in over loopback HTTP (``standin``): start on /slack/install,
"click" Allow or Cancel on the stand-in, follow the redirect back to /slack/oauth_redirect with
the browser's cookie.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.test import Client, override_settings
from django.utils import timezone

from installations.conf import slack_config
from installations.install.cookie import COOKIE_NAME
from slackstandin import SlackStandIn

EXTRA_USER_SCOPE = "search:read"
WEBHOOK_SCOPE = "incoming-webhook"
HREF = re.compile(r'<a class="add-to-slack" href="([^"]+)"')


def authorize_href(page: HttpResponseBase) -> str:
    """The Add to Slack link's target, HTML-unescaped as a browser would read it."""
    from html import unescape

    assert isinstance(page, HttpResponse)  # a rendered page, never a streamed one
    match = HREF.search(page.content.decode())
    assert match, "install page has no Add to Slack link"
    return unescape(match.group(1))


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


@dataclass
class Flow:
    standin: SlackStandIn
    client: Client

    def start(
        self, team: str | None = None, *, user_token: bool = False, webhook: bool = False
    ) -> str:
        """Open the install page over https; the authorize URL the button links to.

        Slack issues a user token only for user scopes and a webhook only for the
        ``incoming-webhook`` scope: ``user_token`` / ``webhook`` add them to what the app asks
        for (SLACK_USER_SCOPES / SLACK_SCOPES, for this page only) when it does not yet."""
        config = slack_config()
        asks: dict[str, str] = {}
        if user_token and not config.user_scopes:
            asks["SLACK_USER_SCOPES"] = EXTRA_USER_SCOPE
        if webhook and WEBHOOK_SCOPE not in config.scopes:
            asks["SLACK_SCOPES"] = ",".join((*config.scopes, WEBHOOK_SCOPE))
        with override_settings(**asks):
            page = self.client.get("/slack/install", {"team": team} if team else {}, secure=True)
        assert page.status_code == 200, page.content[:500]
        return authorize_href(page)

    def back(self, redirect_url: str, client: Client | None = None) -> HttpResponse:
        """Follow Slack's redirect to our callback (path and query only)."""
        parts = urlsplit(redirect_url)
        path = parts.path + ("?" + parts.query if parts.query else "")
        answer = (client or self.client).get(path, secure=True)
        assert isinstance(answer, HttpResponse)  # the callback never streams
        return answer

    def install(self, **choices: Any) -> HttpResponse:
        """Start, approve on the stand-in with ``choices``, and come back: the callback's answer."""
        url = self.start(
            user_token=choices.get("user_token", False), webhook=choices.get("webhook", False)
        )
        return self.back(self.standin.approve(url, **choices))

    def state_cookie(self) -> str | None:
        """This browser's binding value (the cookie both install tabs share), if it has one."""
        morsel = self.client.cookies.get(COOKIE_NAME)
        return morsel.value if morsel is not None and morsel.value else None

    def issued_secrets(self) -> list[str]:
        """Every token and webhook URL the stand-in issued so far (for leak checks)."""
        found: list[str] = []
        for body in self.standin.issued:
            user = body.get("authed_user") or {}
            hook = body.get("incoming_webhook") or {}
            for value in (
                body.get("access_token"),
                body.get("refresh_token"),
                user.get("access_token"),
                user.get("refresh_token"),
                hook.get("url"),
            ):
                if value:
                    found.append(value)
        return found


class StateClock:
    """Moves the clock ``oauth_state`` reads (issue, expiry, purge), and nothing else's."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return timezone.now() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def assert_nothing_from_another_origin(html: str) -> None:
    """No script or frame at all; a linked resource (favicon, icon) only from this origin."""
    assert not re.search(r"<script|<iframe|<object|<embed", html)
    for tag in re.findall(r"<(?:link|img)\b[^>]*>", html):
        url = re.search(r'(?:href|src)="([^"]*)"', tag)
        assert url is not None, tag
        assert url.group(1).startswith("/") and not url.group(1).startswith("//"), tag
