"""Fixtures for Sign in with Slack: the stand-in plays Slack's OpenID Connect endpoints.

``signin`` switches sign-in on and points its Slack URLs (authorize page, key set) at the
stand-in; ``client_signin`` runs the whole flow with Django's test client, the stand-in's
``approve_signin`` standing in for the person pressing Allow (the token exchange and the key set
are real HTTP to the stand-in).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client

from slackstandin import SlackStandIn


@pytest.fixture
def signin(settings: Any, standin: SlackStandIn) -> SlackStandIn:
    settings.SLACK_SIGNIN_ENABLED = True
    settings.SLACK_SIGNIN_AUTHORIZE_URL = standin.signin_authorize_url
    settings.SLACK_SIGNIN_JWKS_URL = standin.jwks_url
    settings.SLACK_SIGNIN_REDIRECT_URI = None  # derived from SLACK_REDIRECT_URI
    settings.SLACK_SIGNIN_ALLOWED_TEAMS = []
    settings.SLACK_SIGNIN_STAFF_TEAMS = []
    settings.SLACK_SIGNIN_STAFF_USERS = []
    settings.SLACK_SIGNIN_STAFF_EMAIL_DOMAIN = ""
    settings.SLACK_SIGNIN_STAFF_GROUP = ""
    settings.SLACK_SIGNIN_PASSWORD_LOGIN = True
    return standin


def local(url: str) -> str:
    """Path and query of one of our URLs (the test client speaks to the app directly)."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.fixture
def client_signin(signin: SlackStandIn, db: Any) -> Callable[..., Any]:
    """client_signin(client, user_id=..., team_id=..., enterprise_id=..., next=...) -> the
    callback's response."""

    def run(client: Client, *, next: str = "", **who: Any) -> Any:
        start = client.get("/slack/signin/start", {"next": next} if next else {})
        assert start.status_code == 302, start.content[:500]
        back = signin.approve_signin(start["Location"], **who)
        return client.get(local(back))

    return run
