"""GET /slack/install: the Add to Slack page, its authorize URL and the state cookie.

docs/slack-protocol.md §1; docs/security.md, "OAuth state".
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext

from installations.install.cookie import COOKIE_NAME, INSTALL_COOKIE_NAME, binding
from installations.install.state import StateCheck, read_state
from installations.models import OAuthState
from slackstandin import SlackStandIn
from tests.support.flow import assert_nothing_from_another_origin, authorize_href, query_of

pytestmark = pytest.mark.django_db


def get_page(client: Client, **extra: Any) -> HttpResponse:
    page = client.get("/slack/install", secure=True, **extra)
    assert isinstance(page, HttpResponse)  # rendered, never streamed
    return page


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
    assert read_state(params["state"]).check is StateCheck.LIVE
    assert "team" not in params


def test_the_page_writes_nothing_to_the_database() -> None:
    """Issued states are signed, not stored: a visit costs no row (issue 11, class 8)."""
    with CaptureQueriesContext(connection) as queries:
        page = get_page(Client())
    assert page.status_code == 200
    assert queries.captured_queries == []
    assert OAuthState.objects.count() == 0


def test_the_state_expires_after_the_setting_and_is_bound_to_the_cookie() -> None:
    page = get_page(Client())
    found = read_state(query_of(authorize_href(page))["state"])
    assert found.check is StateCheck.LIVE and found.payload is not None
    ttl = found.payload.expires_at - found.payload.issued_at
    assert ttl == timedelta(seconds=settings.SLACK_STATE_TTL_SECONDS)
    assert found.payload.browser == binding(page.cookies[COOKIE_NAME].value)
    assert page.cookies[COOKIE_NAME].value not in page.content.decode()  # HttpOnly, not shown


def test_every_visit_gets_a_new_state_but_one_browser_keeps_its_value() -> None:
    client = Client()
    pages = [get_page(client) for _ in range(5)]
    states = {query_of(authorize_href(page))["state"] for page in pages}
    assert len(states) == 5
    assert len({page.cookies[COOKIE_NAME].value for page in pages}) == 1
    other = get_page(Client()).cookies[COOKIE_NAME].value
    assert other != pages[0].cookies[COOKIE_NAME].value


def test_the_install_page_reuses_the_value_of_its_own_cookie() -> None:
    """A browser sends the install page only the cookie whose Path is the install page."""
    first = get_page(Client()).cookies[INSTALL_COOKIE_NAME].value
    again = get_page(Client(), HTTP_COOKIE=f"{INSTALL_COOKIE_NAME}={first}")
    assert again.cookies[COOKIE_NAME].value == first
    found = read_state(query_of(authorize_href(again))["state"])
    assert found.payload is not None and found.payload.browser == binding(first)


@pytest.mark.parametrize("value", ["short", "x" * 43 + "\n", "x" * 42 + "!", ""])
def test_a_malformed_cookie_is_replaced_not_reused(value: str) -> None:
    page = get_page(Client(), HTTP_COOKIE=f"{INSTALL_COOKIE_NAME}={value}")
    assert page.status_code == 200
    new = page.cookies[COOKIE_NAME].value
    assert new != value and re.fullmatch(r"[A-Za-z0-9_-]{43}", new)


def test_state_cookie_attributes_over_https() -> None:
    page = get_page(Client())
    paths = {COOKIE_NAME: "/slack/oauth_redirect", INSTALL_COOKIE_NAME: "/slack/install"}
    for name, path in paths.items():
        cookie = page.cookies[name]
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", cookie.value)
        assert cookie["httponly"] is True
        assert cookie["secure"] is True
        assert cookie["samesite"] == "Lax"
        assert cookie["path"] == path
        assert int(cookie["max-age"]) == settings.SLACK_STATE_TTL_SECONDS <= 600
    assert page.cookies[COOKIE_NAME].value == page.cookies[INSTALL_COOKIE_NAME].value


def test_state_cookie_is_not_secure_over_plain_http() -> None:
    page = Client().get("/slack/install")
    assert page.status_code == 200
    assert not page.cookies[COOKIE_NAME]["secure"]
    assert not page.cookies[INSTALL_COOKIE_NAME]["secure"]


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
    payload = read_state(query_of(url)["state"]).payload
    assert payload is not None and payload.team_hint == "T0ABC123"


@pytest.mark.parametrize(
    "team",
    ["<script>alert(1)</script>", "E0ORG123", "t0lower", "T", "T0ABC123\n", "T0ABC123\r\n"],
)
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
    assert_nothing_from_another_origin(body)
    assert re.search(r'<a class="add-to-slack" href="[^"]+"', body)
    assert 'aria-label="Add to Slack"' in body and "<title>Add to Slack</title>" in body
    assert 'width="139" height="40"' in body
    assert "no-store" in page["Cache-Control"]
    assert page["X-Frame-Options"] == "DENY"


def test_only_get_is_allowed() -> None:
    assert Client().post("/slack/install", secure=True).status_code == 405


@pytest.mark.parametrize("path", ["/slack/install", "/healthz", "/readyz"])
def test_head_answers_as_get_without_a_body(path: str) -> None:
    """Link checkers and load balancers probe with HEAD."""
    answer = Client().head(path, secure=True)
    assert answer.status_code == 200 and answer.content == b""


def test_head_never_reaches_the_callback(standin: SlackStandIn) -> None:
    answer = Client().head("/slack/oauth_redirect?code=x&state=y", secure=True)
    assert answer.status_code == 405
    assert standin.calls_to("oauth.v2.access") == []


def test_the_button_leads_to_the_stand_ins_consent_page(standin: SlackStandIn) -> None:
    """The link a browser would click is one the stand-in (playing Slack) accepts."""
    url = authorize_href(get_page(Client()))
    assert url.startswith(standin.authorize_url)
    redirect = standin.approve(url)
    assert redirect.startswith(settings.SLACK_REDIRECT_URI + "?")
    assert query_of(redirect)["state"] == query_of(url)["state"]
