"""The sign-in flow with the test client and the stand-in: states, nonce, id_token checks."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from installations.signin.models import SlackIdentity
from slackstandin import SlackStandIn
from tests.signin.conftest import local

pytestmark = pytest.mark.django_db


def test_start_sends_the_browser_to_slack_with_state_nonce_and_openid_scopes(
    signin: SlackStandIn, client: Client
) -> None:
    response = client.get("/slack/signin/start")
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(signin.signin_authorize_url + "?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query["scope"] == "openid,email,profile"
    assert query["response_type"] == "code"
    assert query["redirect_uri"] == "https://testserver/slack/signin/callback"
    assert query["state"] and query["nonce"]
    cookie = response.cookies["slack-signin-browser"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/slack/signin"


def test_first_sign_in_creates_a_user_and_an_identity(
    client_signin: Any, client: Client, signin: SlackStandIn
) -> None:
    response = client_signin(client)
    assert response.status_code == 302
    assert response["Location"] == "/slack/signin/workspaces"
    identity = SlackIdentity.objects.get()
    assert (identity.home, identity.slack_user_id, identity.team_id) == (
        "T0STANDIN1",
        "U0STANDINUSR",
        "T0STANDIN1",
    )
    user = identity.user
    assert user.username == "slack-t0standin1-u0standinusr"
    assert not user.has_usable_password()
    assert user.email == "installer@standin.example"
    assert (user.first_name, user.last_name) == ("Stand-in", "Installer")
    assert client.get("/slack/signin/workspaces").status_code == 200
    # The code was spent once, and the user token Slack issued for it was revoked at once.
    assert len(signin.calls_to("openid.connect.token")) == 1
    assert len(signin.calls_to("auth.revoke")) == 1


def test_second_sign_in_logs_into_the_same_user(client_signin: Any) -> None:
    client_signin(Client())
    client_signin(Client())
    assert get_user_model().objects.count() == 1
    assert SlackIdentity.objects.count() == 1


def test_same_email_in_another_workspace_is_another_user(client_signin: Any) -> None:
    """Never linked by email: the same address from another workspace gets its own account."""
    client_signin(Client(), email="boss@example.com")
    client_signin(Client(), team_id="T0ELSEWHERE", email="boss@example.com")
    assert get_user_model().objects.count() == 2
    assert SlackIdentity.objects.count() == 2


def test_a_signed_in_user_links_a_slack_identity_to_themselves_once_confirmed(
    client_signin: Any,
) -> None:
    local_user = get_user_model().objects.create_user("alice", password="x-" + "p" * 20)
    client = Client()
    client.force_login(local_user)
    response = client_signin(client, user_id="U0STANDIN2")
    assert response.status_code == 302 and response["Location"] == "/slack/signin/link"
    assert not SlackIdentity.objects.exists()  # nothing linked before they say so
    confirmed = client.post("/slack/signin/link", {"action": "link"})
    assert confirmed.status_code == 302
    identity = SlackIdentity.objects.get()
    assert identity.user == local_user
    assert get_user_model().objects.count() == 1
    assert client.session["_auth_user_id"] == str(local_user.pk)


def test_an_identity_linked_to_someone_else_is_not_moved(client_signin: Any) -> None:
    client_signin(Client())
    other = get_user_model().objects.create_user("bob")
    client = Client()
    client.force_login(other)
    response = client_signin(client)
    assert response.status_code == 409
    assert b"identity_linked_elsewhere" in response.content
    assert SlackIdentity.objects.get().user != other


def test_grid_identity_is_keyed_on_the_org(client_signin: Any) -> None:
    client_signin(Client(), user_id="W0GRIDUSER", team_id="T0GRIDA", enterprise_id="E0GRID1")
    client_signin(Client(), user_id="W0GRIDUSER", team_id="T0GRIDB", enterprise_id="E0GRID1")
    identity = SlackIdentity.objects.get()
    assert (identity.home, identity.team_id) == ("E0GRID1", "T0GRIDB")


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("wrong_audience", "wrong_audience"),
        ("expired", "expired_id_token"),
        ("unsigned", "unsigned_id_token"),
        ("bad_signature", "bad_signature"),
        ("unknown_kid", "unknown_key"),
        ("replayed_nonce", "invalid_nonce"),
        ("wrong_issuer", "wrong_issuer"),
    ],
)
def test_each_forged_or_broken_id_token_is_refused_with_its_reason(
    client_signin: Any, client: Client, signin: SlackStandIn, fault: str, reason: str, caplog: Any
) -> None:
    if fault == "replayed_nonce":
        client_signin(Client())  # an earlier sign-in whose nonce the forged token carries
    signin.forge_next_id_token(fault)
    caplog.set_level(logging.INFO)
    response = client_signin(client)
    assert response.status_code == 502
    assert f"<code>{reason}</code>".encode() in response.content
    assert b"Start the sign-in again" in response.content
    assert "_auth_user_id" not in client.session
    assert f"reason={reason}" in caplog.text
    assert SlackIdentity.objects.count() == (1 if fault == "replayed_nonce" else 0)
    # The user token Slack issued with the refused id_token was revoked anyway.
    assert len(signin.calls_to("auth.revoke")) == len(signin.calls_to("openid.connect.token"))


def test_a_replayed_callback_is_refused(signin: SlackStandIn, client: Client) -> None:
    start = client.get("/slack/signin/start")
    back = local(signin.approve_signin(start["Location"]))
    assert client.get(back).status_code == 302
    again = client.get(back)
    assert again.status_code == 400 and b"used_state" in again.content
    assert len(signin.calls_to("openid.connect.token")) == 1


def test_a_callback_in_another_browser_is_refused(signin: SlackStandIn, db: Any) -> None:
    start = Client().get("/slack/signin/start")
    back = local(signin.approve_signin(start["Location"]))
    response = Client().get(back)
    assert response.status_code == 400 and b"missing_cookie" in response.content
    assert signin.calls_to("openid.connect.token") == []


def test_an_install_state_is_no_sign_in_state(signin: SlackStandIn, client: Client) -> None:
    from installations.install.cookie import binding
    from installations.install.state import issue_state

    client.get("/slack/signin/start")
    browser = client.cookies["slack-signin-browser"].value
    install_state = issue_state(browser=binding(browser))
    response = client.get("/slack/signin/callback", {"state": install_state, "code": "c"})
    assert response.status_code == 400 and b"invalid_state" in response.content


def test_cancel_on_slack(signin: SlackStandIn, client: Client) -> None:
    from slackstandin import oidc
    from slackstandin.authorize import query_params

    start = client.get("/slack/signin/start")
    params = query_params(start["Location"])
    response = client.get(local(oidc.cancel(params, signin.client_id)))
    assert response.status_code == 200 and b"access_denied" in response.content


def test_a_refused_code_shows_slacks_reason(signin: SlackStandIn, client: Client) -> None:
    signin.fail_next("openid.connect.token", error="invalid_code")
    start = client.get("/slack/signin/start")
    response = client.get(local(signin.approve_signin(start["Location"])))
    assert response.status_code >= 400 and b"invalid_code" in response.content


def test_a_workspace_not_allowed_is_refused(
    client_signin: Any, client: Client, settings: Any
) -> None:
    settings.SLACK_SIGNIN_ALLOWED_TEAMS = ["T0ALLOWED", "E0ALLOWED"]
    response = client_signin(client)
    assert response.status_code == 403 and b"team_not_allowed" in response.content
    assert get_user_model().objects.count() == 0
    assert client_signin(Client(), team_id="T0ALLOWED").status_code == 302
    grid = client_signin(Client(), user_id="W0X1", team_id="T0ANY", enterprise_id="E0ALLOWED")
    assert grid.status_code == 302


def test_the_key_set_is_cached_and_refetched_once_for_an_unknown_kid(
    client_signin: Any, signin: SlackStandIn
) -> None:
    client_signin(Client())
    client_signin(Client())
    assert signin.jwks_fetches == 1  # cached between sign-ins
    signin.forge_next_id_token("unknown_kid")
    refused = client_signin(Client())
    assert refused.status_code == 502 and b"unknown_key" in refused.content
    assert signin.jwks_fetches == 2  # one refetch for the unknown kid, no more
    cache.clear()
    client_signin(Client())
    assert signin.jwks_fetches == 3


def test_an_unreachable_key_set_is_refused(client_signin: Any, settings: Any) -> None:
    settings.SLACK_SIGNIN_JWKS_URL = "http://127.0.0.1:9/openid/connect/keys"
    response = client_signin(Client())
    assert response.status_code == 502 and b"jwks_unavailable" in response.content


def test_next_stays_on_this_site(client_signin: Any) -> None:
    assert client_signin(Client(), next="/admin/")["Location"] == "/admin/"
    assert client_signin(Client(), next="https://evil.example/")["Location"] == (
        "/slack/signin/workspaces"
    )
    assert client_signin(Client(), next="//evil.example/")["Location"] == (
        "/slack/signin/workspaces"
    )


def test_switched_off_nothing_is_active(client: Client, settings: Any, db: Any) -> None:
    settings.SLACK_SIGNIN_ENABLED = False
    assert client.get("/slack/signin").status_code == 404
    assert client.get("/slack/signin/start").status_code == 404
    assert client.get("/slack/signin/callback", {"state": "x", "code": "y"}).status_code == 404
    page = client.get("/admin/login/")
    assert b"Sign in with Slack" not in page.content
    assert b'name="password"' in page.content


@pytest.mark.parametrize("fault", [None, "bad_signature", "wrong_audience"])
def test_no_secret_in_logs_or_pages(
    client_signin: Any, client: Client, signin: SlackStandIn, settings: Any, caplog: Any, fault: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    if fault:
        signin.forge_next_id_token(fault)
    start = client.get("/slack/signin/start")
    back = client.get(local(signin.approve_signin(start["Location"])), follow=True)
    code = signin.calls_to("openid.connect.token")[0].params["code"]
    access = signin.calls_to("auth.revoke")[0].token
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
    browser = client.cookies["slack-signin-browser"].value
    seen = caplog.text + back.content.decode()
    assert access and access.startswith("xoxp-")
    for secret in (code, access, state, browser, settings.SLACK_CLIENT_SECRET, "eyJ"):
        assert secret not in seen
