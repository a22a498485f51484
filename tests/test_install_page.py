"""GET /slack/install: the Add to Slack page, its authorize URL and the state cookie.

security-checklist tests 1, 3, 19 and 20.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from installations.models import OAuthState
from installations.standin import SlackStandIn
from installations.state_cookie import COOKIE_NAME
from tests.fixtures_flow import authorize_href, query_of

pytestmark = pytest.mark.django_db


def get_page(client: Client, **extra: object) -> object:
    return client.get("/slack/install", secure=True, **extra)


def test_page_links_to_the_v2_authorize_url_with_every_value() -> None:
    client = Client()
    page = get_page(client)
    assert page.status_code == 200
    url = authorize_href(page)
    assert url.startswith(settings.SLACK_AUTHORIZE_URL + "?")
    params = query_of(url)
    assert params["client_id"] == settings.SLACK_CLIENT_ID
    assert params["scope"] == "commands,chat:write"
    assert params["user_scope"] == ""
    assert params["redirect_uri"] == settings.SLACK_REDIRECT_URI
    assert len(params["state"]) >= 43  # 32 random bytes, url-safe base64
    assert "team" not in params


def test_only_the_hash_of_the_state_is_stored() -> None:
    client = Client()
    state = query_of(authorize_href(get_page(client)))["state"]
    row = OAuthState.objects.get()
    assert row.state_hash == hashlib.sha256(state.encode()).hexdigest()
    assert state not in str(OAuthState.objects.values().get())
    ttl = (row.expires_at - row.created_at).total_seconds()
    assert ttl == settings.SLACK_STATE_TTL_SECONDS


def test_every_visit_gets_a_new_state() -> None:
    states = {query_of(authorize_href(get_page(Client())))["state"] for _ in range(5)}
    assert len(states) == 5
    assert OAuthState.objects.count() == 5


def test_state_cookie_attributes_over_https() -> None:
    client = Client()
    page = get_page(client)
    cookie = page.cookies[COOKIE_NAME]
    assert cookie.value == query_of(authorize_href(page))["state"]
    assert cookie["httponly"] is True
    assert cookie["secure"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/slack/oauth_redirect"
    assert int(cookie["max-age"]) == settings.SLACK_STATE_TTL_SECONDS <= 600


def test_state_cookie_is_not_secure_over_plain_http() -> None:
    page = Client().get("/slack/install")
    assert page.status_code == 200
    assert not page.cookies[COOKIE_NAME]["secure"]


def test_values_are_url_encoded(settings: Any) -> None:
    settings.SLACK_REDIRECT_URI = "https://testserver/slack/oauth_redirect?x=1&y=a b"
    settings.SLACK_CLIENT_ID = "11&22"
    settings.SLACK_SCOPES = "chat:write,commands"
    settings.SLACK_USER_SCOPES = "search:read"
    url = authorize_href(get_page(Client()))
    pairs = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    assert pairs["redirect_uri"] == "https://testserver/slack/oauth_redirect?x=1&y=a b"
    assert pairs["client_id"] == "11&22"
    assert pairs["scope"] == "chat:write,commands"
    assert pairs["user_scope"] == "search:read"
    assert set(pairs) == {"state", "client_id", "scope", "user_scope", "redirect_uri"}


def test_redirect_uri_ignores_the_request_host() -> None:
    page = get_page(Client(), HTTP_X_FORWARDED_HOST="evil.example")
    assert query_of(authorize_href(page))["redirect_uri"] == settings.SLACK_REDIRECT_URI
    assert b"evil.example" not in page.content


def test_unknown_host_is_refused() -> None:
    page = Client().get("/slack/install", secure=True, HTTP_HOST="evil.example")
    assert page.status_code == 400
    assert OAuthState.objects.count() == 0


def test_team_preselects_a_workspace() -> None:
    url = authorize_href(get_page(Client(), data={"team": "T0ABC123"}))
    assert query_of(url)["team"] == "T0ABC123"
    assert OAuthState.objects.get().team_hint == "T0ABC123"


@pytest.mark.parametrize("team", ["<script>alert(1)</script>", "E0ORG123", "t0lower", "T"])
def test_bad_team_gets_a_clear_400(team: str) -> None:
    page = get_page(Client(), data={"team": team})
    assert page.status_code == 400
    body = page.content.decode()
    assert "invalid_team" in body
    assert "<script>alert" not in body
    assert 'href="/slack/install"' in body
    assert OAuthState.objects.count() == 0
    assert COOKIE_NAME not in page.cookies


def test_not_configured_names_the_missing_variables(settings: Any) -> None:
    settings.SLACK_CLIENT_ID = ""
    settings.SLACK_CLIENT_SECRET = ""
    page = get_page(Client())
    assert page.status_code == 503
    body = page.content.decode()
    assert "SLACK_CLIENT_ID" in body and "SLACK_CLIENT_SECRET" in body
    assert "SLACK_REDIRECT_URI" not in body
    assert OAuthState.objects.count() == 0
    assert COOKIE_NAME not in page.cookies


def test_page_is_self_contained_and_keeps_secrets_out() -> None:
    page = get_page(Client())
    body = page.content.decode()
    assert settings.SLACK_CLIENT_SECRET not in body
    assert not re.search(r"<script|<link|<iframe|<img|\ssrc=", body)
    assert re.search(r'<a class="add-to-slack" href="[^"]+"', body)
    assert 'aria-label="Add to Slack"' in body and "<title>Add to Slack</title>" in body
    assert 'width="139" height="40"' in body
    assert "no-store" in page["Cache-Control"]
    assert page["X-Frame-Options"] == "DENY"


def test_only_get_is_allowed() -> None:
    assert Client().post("/slack/install", secure=True).status_code == 405


def test_issuing_purges_expired_states() -> None:
    past = timezone.now() - timedelta(minutes=1)
    OAuthState.objects.bulk_create(
        OAuthState(state_hash=f"{i:064x}", expires_at=past) for i in range(20)
    )
    get_page(Client())
    assert OAuthState.objects.count() == 1
    assert OAuthState.objects.get().expires_at > timezone.now()


def test_live_states_are_capped() -> None:
    from installations.oauth_state import MAX_LIVE_STATES

    future = timezone.now() + timedelta(minutes=5)
    OAuthState.objects.bulk_create(
        (
            OAuthState(
                state_hash=f"{i:064x}",
                created_at=timezone.now() - timedelta(seconds=MAX_LIVE_STATES - i),
                expires_at=future,
            )
            for i in range(MAX_LIVE_STATES)
        ),
        batch_size=2000,
    )
    state = query_of(authorize_href(get_page(Client())))["state"]
    assert OAuthState.objects.count() == MAX_LIVE_STATES
    assert not OAuthState.objects.filter(state_hash=f"{0:064x}").exists()  # the oldest went
    assert OAuthState.objects.filter(state_hash=hashlib.sha256(state.encode()).hexdigest()).exists()


def test_the_button_leads_to_the_stand_ins_consent_page(standin: SlackStandIn) -> None:
    """The link a browser would click is one the stand-in (playing Slack) accepts."""
    url = authorize_href(get_page(Client()))
    assert url.startswith(standin.authorize_url)
    redirect = standin.approve(url)
    assert redirect.startswith(settings.SLACK_REDIRECT_URI + "?")
    assert query_of(redirect)["state"] == query_of(url)["state"]
