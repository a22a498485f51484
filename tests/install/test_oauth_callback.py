"""GET /slack/oauth_redirect: the happy path and every failure, over real HTTP to the stand-in.

docs/slack-protocol.md §1 to §3; docs/security.md, "OAuth state".
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.core import signing
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.test import Client

from installations.install.cookie import COOKIE_NAME
from installations.install.links import SALT, shown_on_page
from installations.models import Installation, OAuthState, Workspace
from tests.support.db_faults import refuse_writes
from tests.support.flow import Flow, assert_nothing_from_another_origin, query_of
from tests.support.standin import known_token


def nothing_stored() -> bool:
    return not Workspace.objects.exists() and not Installation.objects.exists()


def assert_fresh_start_link(response: Any) -> None:
    assert 'href="/slack/install"' in response.content.decode()


# --- success -------------------------------------------------------------------------------


def test_happy_callback_redirects_to_a_clean_success_url(flow: Flow) -> None:
    response = flow.install()
    assert response.status_code == 302
    location = response["Location"]
    assert urlsplit(location).path == "/slack/installed"
    assert "code" not in location and "state" not in location
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["Cache-Control"] == "no-store"
    # The binding cookie stays: another tab of this browser may still be on its way back.
    assert COOKIE_NAME not in response.cookies
    assert Workspace.objects.count() == 1
    assert Installation.objects.count() == 1
    assert OAuthState.objects.count() == 1  # the spent state, until its expiry


def test_exchange_uses_basic_auth_and_the_configured_redirect_uri(flow: Flow) -> None:
    redirect = flow.standin.approve(flow.start())
    assert flow.back(redirect).status_code == 302
    (call,) = flow.standin.calls_to("oauth.v2.access")
    assert call.basic_auth == (django_settings.SLACK_CLIENT_ID, django_settings.SLACK_CLIENT_SECRET)
    assert call.params["code"] == query_of(redirect)["code"]
    assert call.params["redirect_uri"] == django_settings.SLACK_REDIRECT_URI
    assert "client_secret" not in call.params
    (test_call,) = flow.standin.calls_to("auth.test")
    assert test_call.token == flow.standin.issued[0]["access_token"]


def test_success_page_names_the_workspace_and_opens_slack(flow: Flow) -> None:
    page = flow.client.get(flow.install()["Location"], secure=True)
    assert page.status_code == 200
    body = page.content.decode()
    assert "Stand-in Workspace" in body
    assert 'href="slack://app?team=T0STANDIN1&amp;id=A0STANDIN" rel="noreferrer"' in body
    assert 'href="https://app.slack.com/client/T0STANDIN1" rel="noreferrer"' in body
    assert "no-store" in page["Cache-Control"]


def test_pages_from_the_callback_are_self_contained(flow: Flow) -> None:
    """no third-party resources; outbound links only to Slack, noreferrer."""
    pages: list[HttpResponseBase] = [flow.client.get(flow.install()["Location"], secure=True)]
    pages.append(flow.back(flow.standin.cancel(flow.start())))
    pages.append(flow.client.get("/slack/oauth_redirect?code=x", secure=True))
    for page in pages:
        assert isinstance(page, HttpResponse)  # rendered pages
        body = page.content.decode()
        assert_nothing_from_another_origin(body)
        for tag in re.findall(r"<a [^>]*>", body):
            link = re.search(r'href="([^"]*)"', tag)
            assert link, tag
            href = link.group(1)
            if href.startswith("/"):
                continue
            assert href.startswith(("slack://", "https://app.slack.com/")), href
            assert 'rel="noreferrer"' in tag


def test_tampered_or_old_success_links_are_refused(flow: Flow) -> None:
    location = flow.install()["Location"]
    assert flow.client.get(location + "x", secure=True).status_code == 400
    assert flow.client.get("/slack/installed", secure=True).status_code == 400

    class OldSigner(signing.TimestampSigner):
        def timestamp(self) -> str:
            return signing.b62_encode(int(time.time()) - 3600)

    workspace = Workspace.objects.get()
    old = OldSigner(salt=SALT).sign_object(shown_on_page(workspace), compress=True)
    page = flow.client.get("/slack/installed", {"i": old}, secure=True)
    assert page.status_code == 400
    assert b"invalid_success_link" in page.content


def test_extra_query_params_cannot_move_the_exchange(flow: Flow) -> None:
    """``iss`` or ``base_url`` in the callback change nothing."""
    redirect = flow.standin.approve(flow.start())
    response = flow.back(redirect + "&iss=https%3A%2F%2Fevil.example&base_url=http%3A%2F%2Fevil")
    assert response.status_code == 302
    assert len(flow.standin.calls_to("oauth.v2.access")) == 1


# --- Slack's error parameter, missing pieces -------------------------------------------------


def test_cancel_shows_a_friendly_page_and_spends_the_state(flow: Flow) -> None:
    cancelled = flow.standin.cancel(flow.start())
    response = flow.back(cancelled)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Installation cancelled" in body
    assert_fresh_start_link(response)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert COOKIE_NAME not in response.cookies
    assert flow.standin.calls_to("oauth.v2.access") == []
    assert OAuthState.objects.count() == 1
    assert nothing_stored()
    state = query_of(cancelled)["state"]
    replay = flow.client.get("/slack/oauth_redirect", {"state": state, "code": "c"}, secure=True)
    assert replay.status_code == 400 and b"used_state" in replay.content


def test_access_denied_without_description_or_state(flow: Flow) -> None:
    """bolt-python #1454: access_denied may come alone (no permission to install)."""
    response = flow.client.get("/slack/oauth_redirect", {"error": "access_denied"}, secure=True)
    assert response.status_code == 200
    assert b"Installation cancelled" in response.content


def test_slack_error_param_is_escaped(flow: Flow) -> None:
    url = flow.start()
    state = query_of(url)["state"]
    response = flow.client.get(
        "/slack/oauth_redirect",
        {"error": "<script>alert(1)</script>", "state": state},
        secure=True,
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "<script>" not in body
    assert "scriptalert1script" in body  # the reason code, reduced to safe characters
    assert response["X-Content-Type-Options"] == "nosniff"
    assert flow.standin.calls == []
    assert OAuthState.objects.count() == 1  # this browser's state, spent


def test_known_authorize_error_reads_as_plain_words(flow: Flow) -> None:
    response = flow.client.get("/slack/oauth_redirect", {"error": "invalid_scope"}, secure=True)
    assert response.status_code == 400
    assert b"permissions Slack does not know" in response.content


def test_missing_state_explains_installs_started_at_slack(flow: Flow) -> None:
    """code but no state and no cookie; the code is never exchanged."""
    response = flow.client.get("/slack/oauth_redirect", {"code": "from-slack"}, secure=True)
    assert response.status_code == 400
    body = response.content.decode()
    assert "missing_state" in body and "Slack&#x27;s own pages" in body
    assert_fresh_start_link(response)
    assert flow.standin.calls == []


def test_missing_code_spends_the_state(flow: Flow) -> None:
    state = query_of(flow.start())["state"]
    response = flow.client.get("/slack/oauth_redirect", {"state": state}, secure=True)
    assert response.status_code == 400
    assert b"missing_code" in response.content
    assert_fresh_start_link(response)
    assert OAuthState.objects.count() == 1
    assert flow.standin.calls == []
    assert nothing_stored()


# --- Slack refuses or fails ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "words"),
    [
        ("invalid_code", 400, "had expired or was already used"),
        ("code_already_used", 400, "was already used"),
        ("bad_redirect_uri", 502, "return address does not match"),
        ("invalid_client_id", 502, "does not recognise this app"),
        ("bad_client_secret", 502, "did not accept the app's credentials"),
        ("something_new", 502, "Slack answered something_new"),
    ],
)
def test_slack_refusals_read_as_plain_words(flow: Flow, code: str, status: int, words: str) -> None:
    flow.standin.fail_next("oauth.v2.access", error=code)
    response = flow.install()
    assert response.status_code == status
    body = response.content.decode()
    assert words in body.replace("&#x27;", "'")
    assert code in body
    assert django_settings.SLACK_CLIENT_SECRET not in body
    assert_fresh_start_link(response)
    assert len(flow.standin.calls_to("oauth.v2.access")) == 1
    assert nothing_stored()


def test_a_wrong_client_secret_for_real(flow: Flow, settings: Any) -> None:
    url = flow.start()
    settings.SLACK_CLIENT_SECRET = "not-the-secret-" + "x" * 8
    response = flow.back(flow.standin.approve(url))
    assert response.status_code == 502
    assert b"bad_client_secret" in response.content
    assert nothing_stored()


def test_an_expired_code_for_real(flow: Flow) -> None:
    url = flow.start()
    flow.standin.code_ttl_seconds = 0
    response = flow.back(flow.standin.approve(url))
    assert response.status_code == 400
    assert b"invalid_code" in response.content


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 500},
        {"status": 503},
        {"status": 429, "retry_after": 30},
        {"drop": True},
    ],
)
def test_slack_failures_give_502_after_exactly_one_request(flow: Flow, fault: dict) -> None:
    flow.standin.fail_next("oauth.v2.access", **fault)
    response = flow.install()
    assert response.status_code == 502
    assert_fresh_start_link(response)
    assert len(flow.standin.calls_to("oauth.v2.access")) == 1  # never retried: L3
    assert nothing_stored()


def test_slow_slack_times_out_within_the_setting(flow: Flow, settings: Any) -> None:
    settings.SLACK_HTTP_TIMEOUT_SECONDS = 1
    flow.standin.fail_next("oauth.v2.access", delay=3)
    url = flow.start()
    started = time.monotonic()
    response = flow.back(flow.standin.approve(url))
    assert time.monotonic() - started < 2.5
    assert response.status_code == 502
    assert len(flow.standin.calls_to("oauth.v2.access")) == 1
    assert nothing_stored()


def test_unreachable_slack_gives_502(flow: Flow, settings: Any) -> None:
    url = flow.start()
    redirect = flow.standin.approve(url)
    settings.SLACK_API_URL = "http://127.0.0.1:9/api/"  # the discard port: connection refused
    response = flow.back(redirect)
    assert response.status_code == 502
    assert b"could not be reached" in response.content


# --- Slack says ok, but not to us ------------------------------------------------------------


def test_answer_for_another_app_is_refused_and_its_tokens_revoked(flow: Flow) -> None:
    Workspace.objects.create(client_id=django_settings.SLACK_CLIENT_ID, app_id="A0OTHERAPP")
    response = flow.install()
    assert response.status_code == 502
    assert b"unexpected_response" in response.content
    assert Workspace.objects.count() == 1 and not Installation.objects.exists()
    bot = flow.standin.issued[0]["access_token"]
    assert [c.token for c in flow.standin.calls_to("auth.revoke")] == [bot]
    assert known_token(flow.standin, bot)["revoked"] is True


def test_first_install_answered_for_another_app_is_refused_with_slack_app_id(
    flow: Flow, settings: Any
) -> None:
    settings.SLACK_APP_ID = "A0OTHERAPP"  # the stand-in answers for A0STANDIN
    response = flow.install()
    assert response.status_code == 502
    assert b"unexpected_response" in response.content
    assert nothing_stored()
    assert known_token(flow.standin, flow.standin.issued[0]["access_token"])["revoked"] is True
    settings.SLACK_APP_ID = "A0STANDIN"
    assert flow.install().status_code == 302


@pytest.mark.parametrize(
    ("choices", "patch"),
    [
        ({}, {"team_id": "T0ELSEWHERE"}),
        ({}, {"app_id": "A0OTHERAPP"}),
        ({}, {"team_id": None}),
        ({}, {"is_enterprise_install": True, "enterprise_id": "E0STANDIN1"}),
        ({"enterprise_id": "E0GRID"}, {"enterprise_id": "E0OTHERORG"}),
        ({"org_wide": True}, {"enterprise_id": "E0OTHERORG", "team_id": "E0OTHERORG"}),
        ({"org_wide": True}, {"is_enterprise_install": False, "team_id": "T0INSIDE"}),
    ],
)
def test_auth_test_for_another_install_than_the_code_is_refused_and_revoked(
    flow: Flow, choices: dict[str, Any], patch: dict[str, Any]
) -> None:
    """auth.test with the new token must name the app, workspace or org oauth.v2.access named
    (docs/slack-protocol.md §5): another's answer is unusable, and what was issued is revoked."""
    flow.standin.fail_next("auth.test", patch=patch)
    response = flow.install(**choices)
    assert response.status_code == 502
    assert b"unexpected_response" in response.content
    assert nothing_stored()
    bot = flow.standin.issued[0]["access_token"]
    assert known_token(flow.standin, bot)["revoked"] is True


def test_answer_without_the_bot_token_we_asked_for(flow: Flow, settings: Any) -> None:
    settings.SLACK_SCOPES = ""
    settings.SLACK_USER_SCOPES = "search:read"
    url = flow.start()
    settings.SLACK_SCOPES = "commands"  # we now expect a bot token that Slack did not issue
    response = flow.back(flow.standin.approve(url, user_token=True))
    assert response.status_code == 502
    assert b"unexpected_response" in response.content
    assert nothing_stored()
    user_token = flow.standin.issued[0]["authed_user"]["access_token"]
    assert known_token(flow.standin, user_token)["revoked"] is True


def test_auth_test_failure_revokes_and_stores_nothing(flow: Flow) -> None:
    flow.standin.fail_next("auth.test", status=500)
    response = flow.install()
    assert response.status_code == 502
    assert nothing_stored()
    assert known_token(flow.standin, flow.standin.issued[0]["access_token"])["revoked"] is True


# --- storage fails after Slack issued tokens --------------------------------------------------


def refuse_installation_inserts() -> Callable[[], None]:
    return refuse_writes("installations_installation", event="INSERT")


def test_storage_failure_rolls_back_and_revokes_the_new_tokens(flow: Flow, settings: Any) -> None:
    settings.SLACK_SCOPES = "commands,incoming-webhook"
    settings.SLACK_USER_SCOPES = "search:read"
    refuse_installation_inserts()
    response = flow.install(user_token=True, webhook=True, rotation=True)
    assert response.status_code == 500
    body = response.content.decode()
    assert "could not be saved" in body and "try again" in body
    assert_fresh_start_link(response)
    assert nothing_stored()
    issued = flow.standin.issued[0]
    tokens = {
        issued["access_token"],
        issued["refresh_token"],
        issued["authed_user"]["access_token"],
        issued["authed_user"]["refresh_token"],
    }
    assert {c.token for c in flow.standin.calls_to("auth.revoke")} == tokens
    # With rotation auth.revoke withdraws just the token it is given, refresh tokens included
    # (docs/slack-protocol.md §5), so each of the four is revoked on its own.
    for token in tokens:
        assert known_token(flow.standin, token)["revoked"] is True
    for secret in flow.issued_secrets():
        assert secret not in body


def test_after_a_storage_failure_the_user_can_start_again(flow: Flow) -> None:
    lift = refuse_installation_inserts()
    assert flow.install().status_code == 500
    lift()
    assert flow.install().status_code == 302
    assert Installation.objects.count() == 1


def test_only_get_is_allowed() -> None:
    assert Client().post("/slack/oauth_redirect", secure=True).status_code == 405


@pytest.mark.parametrize(
    "query", ["state=forged-state&code=x", "error=access_denied&state=forged-state", "code=x"]
)
def test_a_forged_callback_link_leaves_this_browsers_install_running(
    flow: Flow, query: str
) -> None:
    """Opening someone's crafted callback URL must not clear the cookie of a live flow."""
    url = flow.start()
    forged = flow.client.get(f"/slack/oauth_redirect?{query}", secure=True)
    assert forged.status_code in (400, 200)
    assert COOKIE_NAME not in forged.cookies  # not deleted, not replaced
    assert flow.back(flow.standin.approve(url)).status_code == 302


def test_an_error_callback_from_another_browser_spends_nothing(flow: Flow) -> None:
    """A crafted ``error=access_denied&state=<theirs>`` link cannot burn a live state."""
    url = flow.start()
    state = query_of(url)["state"]
    forged = Client().get(
        "/slack/oauth_redirect", {"error": "access_denied", "state": state}, secure=True
    )
    assert forged.status_code == 200
    assert OAuthState.objects.count() == 0
    assert flow.back(flow.standin.approve(url)).status_code == 302
