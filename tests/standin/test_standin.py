"""The local Slack stand-in, driven over real HTTP by slack_sdk's WebClient (no database)."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth import AuthorizeUrlGenerator
from slack_sdk.signature import SignatureVerifier

from installations.conf import slack_config
from slackstandin import AuthorizeError, SlackStandIn
from tests.support.standin import known_token

REDIRECT = "https://testserver/slack/oauth_redirect"
ROOT = Path(__file__).resolve().parents[2]


def authorize_url(standin: SlackStandIn, *, user_scopes: tuple[str, ...] = (), **kw: Any) -> str:
    return AuthorizeUrlGenerator(
        client_id=standin.client_id,
        redirect_uri=kw.get("redirect_uri", REDIRECT),
        scopes=kw.get("scopes", ["commands", "chat:write"]),
        user_scopes=list(user_scopes),
        authorization_url=standin.authorize_url,
    ).generate(kw.get("state", "state-1"))


def code_from(redirect: str) -> str:
    return parse_qs(urlsplit(redirect).query)["code"][0]


def client(standin: SlackStandIn, **kw: Any) -> WebClient:
    return WebClient(base_url=standin.api_url, **kw)


def exchange(standin: SlackStandIn, redirect: str, **kw: Any) -> Any:
    return client(standin).oauth_v2_access(
        client_id=standin.client_id,
        client_secret=kw.pop("client_secret", standin.client_secret),
        code=code_from(redirect),
        redirect_uri=kw.pop("redirect_uri", REDIRECT),
    )


def slack_error(call: Any) -> str:
    with pytest.raises(SlackApiError) as info:
        call()
    return str(info.value.response["error"])


def test_fixture_points_settings_at_the_standin(standin: SlackStandIn) -> None:
    assert slack_config().api_url == standin.api_url == standin.url + "/api/"
    assert slack_config().authorize_url == standin.authorize_url


def test_workspace_install_shape(standin: SlackStandIn) -> None:
    body = exchange(standin, standin.approve(authorize_url(standin))).data
    assert body["token_type"] == "bot" and body["access_token"].startswith("xoxb-standin-")
    assert body["scope"] == "commands,chat:write"
    assert body["team"] == {"id": "T0STANDIN1", "name": "Stand-in Workspace"}
    assert body["enterprise"] is None and body["is_enterprise_install"] is False
    assert body["authed_user"] == {"id": "U0STANDINUSR"}
    assert "incoming_webhook" not in body and "refresh_token" not in body
    assert standin.issued == [body]


def test_org_wide_install_shape_and_org_url(standin: SlackStandIn) -> None:
    body = exchange(standin, standin.approve(authorize_url(standin), org_wide=True)).data
    assert body["team"] is None and body["is_enterprise_install"] is True
    assert body["enterprise"] == {"id": "E0STANDIN1", "name": "Stand-in Org"}
    test = client(standin).auth_test(token=body["access_token"])
    assert test["url"] == "https://stand-in-org.enterprise.slack.com/"
    assert test["enterprise_id"] == "E0STANDIN1" and test["is_enterprise_install"] is True


def test_user_token_webhook_and_rotation_shape(standin: SlackStandIn) -> None:
    url = authorize_url(
        standin, scopes=["commands", "incoming-webhook"], user_scopes=("search:read",)
    )
    redirect = standin.approve(url, user_token=True, webhook=True, rotation=True, team_id="T0OTHER")
    body = exchange(standin, redirect).data
    assert body["access_token"].startswith("xoxe.xoxb-1-standin-")
    assert body["expires_in"] == 43200 and body["refresh_token"].startswith("xoxe-1-standin-")
    user = body["authed_user"]
    assert user["access_token"].startswith("xoxe.xoxp-1-standin-")
    assert user["scope"] == "search:read" and user["token_type"] == "user"
    assert user["expires_in"] == 43200 and user["refresh_token"].startswith("xoxe-1-standin-")
    hook = body["incoming_webhook"]
    assert hook["url"].startswith("https://hooks.slack.com/services/T0OTHER/B")
    assert body["team"]["id"] == "T0OTHER"


def test_workspace_inside_a_grid_org_has_team_and_enterprise(standin: SlackStandIn) -> None:
    url = authorize_url(standin)
    body = exchange(standin, standin.approve(url, enterprise_id="E0STANDIN1")).data
    assert body["team"]["id"] == "T0STANDIN1" and body["enterprise"]["id"] == "E0STANDIN1"
    assert body["is_enterprise_install"] is False
    test = client(standin).auth_test(token=body["access_token"])
    assert test["team_id"] == "T0STANDIN1" and test["enterprise_id"] == "E0STANDIN1"
    assert standin.uninstall("T0STANDIN1") == (0, "")  # no events_url: only revokes
    assert known_token(standin, body["access_token"])["revoked"] is True


def test_user_scope_alone_gives_user_token_without_bot(standin: SlackStandIn) -> None:
    url = authorize_url(standin, scopes=[], user_scopes=("search:read",))
    body = exchange(standin, standin.approve(url)).data
    assert "access_token" not in body
    assert body["authed_user"]["access_token"].startswith("xoxp-standin-")
    assert known_token(standin, body["authed_user"]["access_token"])["kind"] == "user"


def test_code_is_single_use(standin: SlackStandIn) -> None:
    redirect = standin.approve(authorize_url(standin))
    exchange(standin, redirect)
    assert slack_error(lambda: exchange(standin, redirect)) == "invalid_code"


def test_expired_code_is_invalid(standin: SlackStandIn) -> None:
    redirect = standin.approve(authorize_url(standin))
    standin.code_ttl_seconds = 0
    assert slack_error(lambda: exchange(standin, redirect)) == "invalid_code"


def test_client_and_redirect_errors(standin: SlackStandIn) -> None:
    url = authorize_url(standin)
    redirect = standin.approve(url)
    assert slack_error(lambda: exchange(standin, redirect, client_secret="nope")) == (
        "bad_client_secret"
    )
    assert slack_error(lambda: exchange(standin, redirect, redirect_uri="https://x/")) == (
        "bad_redirect_uri"
    )
    wrong_id = lambda: client(standin).oauth_v2_access(  # noqa: E731
        client_id="9.9", client_secret=standin.client_secret, code=code_from(redirect)
    )
    assert slack_error(wrong_id) == "invalid_client_id"
    assert exchange(standin, redirect)["ok"] is True  # failed attempts did not spend the code


def test_basic_auth_is_recorded_and_form_fields_work(standin: SlackStandIn) -> None:
    exchange(standin, standin.approve(authorize_url(standin)))
    call = standin.calls_to("oauth.v2.access")[0]
    assert call.basic_auth == (standin.client_id, standin.client_secret)
    assert call.http_method == "POST" and call.path == "/api/oauth.v2.access"
    assert "client_secret" not in call.params and call.params["redirect_uri"] == REDIRECT
    form = {
        "client_id": standin.client_id,
        "client_secret": standin.client_secret,
        "code": code_from(standin.approve(authorize_url(standin))),
        "redirect_uri": REDIRECT,
    }
    assert client(standin).api_call("oauth.v2.access", data=form)["ok"] is True


def test_refresh_token_works_once_and_replaces_access_token(standin: SlackStandIn) -> None:
    body = exchange(standin, standin.approve(authorize_url(standin), rotation=True)).data
    web = client(standin)
    refresh = lambda: web.oauth_v2_access(  # noqa: E731
        client_id=standin.client_id,
        client_secret=standin.client_secret,
        grant_type="refresh_token",
        refresh_token=body["refresh_token"],
    )
    new = refresh().data
    assert isinstance(new, dict)
    assert new["token_type"] == "bot" and new["expires_in"] == 43200
    assert new["access_token"].startswith("xoxe.xoxb-1-standin-") and "authed_user" not in new
    assert new["refresh_token"] != body["refresh_token"] and new["team"]["id"] == "T0STANDIN1"
    assert slack_error(refresh) == "invalid_refresh_token"
    assert web.auth_test(token=new["access_token"])["ok"] is True
    assert slack_error(lambda: web.auth_test(token=body["access_token"])) == "token_revoked"
    assert standin.issued[-1] == new


def test_auth_test_scopes_header_is_lowercase(standin: SlackStandIn) -> None:
    token = exchange(standin, standin.approve(authorize_url(standin)))["access_token"]
    standin.set_scopes(token, "chat:write,commands,users:read")
    response = client(standin).auth_test(token=token)
    assert response.headers["x-oauth-scopes"] == "chat:write,commands,users:read"
    assert response["bot_id"] == "B0STANDIN" and response["user_id"] == "U0STANDINBOT"
    assert response["url"] == "https://stand-in-workspace.slack.com/"
    assert standin.calls_to("auth.test")[0].token == token


def test_auth_test_error_codes(standin: SlackStandIn) -> None:
    web = client(standin)
    assert slack_error(lambda: web.auth_test(token="not-issued-by-the-standin")) == "invalid_auth"
    assert slack_error(web.auth_test) == "not_authed"
    tokens = [
        exchange(standin, standin.approve(authorize_url(standin), rotation=True))["access_token"]
        for _ in range(3)
    ]
    standin.revoke_token(tokens[0])
    standin.expire_token(tokens[1])
    standin.set_token_error(tokens[2], "account_inactive")
    codes = [slack_error(lambda t=t: web.auth_test(token=t)) for t in tokens]
    assert codes == ["token_revoked", "token_expired", "account_inactive"]
    assert known_token(standin, tokens[0])["revoked"] is True
    assert standin.token_info("not-issued-by-the-standin") is None


def test_auth_revoke_and_dry_run(standin: SlackStandIn) -> None:
    token = exchange(standin, standin.approve(authorize_url(standin)))["access_token"]
    web = client(standin)
    assert web.auth_revoke(token=token, test=True)["revoked"] is False
    assert web.auth_test(token=token)["ok"] is True
    assert web.auth_revoke(token=token).data == {"ok": True, "revoked": True}
    assert slack_error(lambda: web.auth_test(token=token)) == "token_revoked"
    other = exchange(standin, standin.approve(authorize_url(standin)))["access_token"]
    status, text = _get(standin, f"/api/auth.revoke?{urlencode({'token': other, 'test': 1})}")
    assert (status, json.loads(text)) == (200, {"ok": True, "revoked": False})
    assert standin.calls_to("auth.revoke")[-1].http_method == "GET"


def test_fail_next_429_with_retry_after(standin: SlackStandIn) -> None:
    token = exchange(standin, standin.approve(authorize_url(standin)))["access_token"]
    standin.fail_next("auth.test", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as info:
        client(standin).auth_test(token=token)
    response = info.value.response
    assert response.status_code == 429 and response["error"] == "ratelimited"
    assert response.headers["Retry-After"] == "7"
    assert client(standin).auth_test(token=token)["ok"] is True  # only the next call failed


def test_fail_next_error_times(standin: SlackStandIn) -> None:
    standin.fail_next("oauth.v2.access", error="internal_error", times=2)
    redirect = standin.approve(authorize_url(standin))
    assert slack_error(lambda: exchange(standin, redirect)) == "internal_error"
    assert slack_error(lambda: exchange(standin, redirect)) == "internal_error"
    assert exchange(standin, redirect)["ok"] is True


def test_fail_next_drop_closes_connection(standin: SlackStandIn) -> None:
    token = exchange(standin, standin.approve(authorize_url(standin)))["access_token"]
    standin.fail_next("auth.test", drop=True)
    with pytest.raises((URLError, ConnectionError, http.client.HTTPException)):
        client(standin, retry_handlers=[]).auth_test(token=token)
    standin.fail_next("auth.test", drop=True)
    assert client(standin).auth_test(token=token)["ok"] is True  # slack_sdk's default retry
    assert len(standin.calls_to("auth.test")) == 3


def test_fail_next_delay_times_out_but_spends_the_code(standin: SlackStandIn) -> None:
    redirect = standin.approve(authorize_url(standin))
    standin.fail_next("oauth.v2.access", delay=1.5)
    # slack_sdk annotates timeout as int; urllib honours the half second this test needs.
    slow = WebClient(base_url=standin.api_url, timeout=0.5, retry_handlers=[])  # type: ignore[arg-type]
    with pytest.raises((TimeoutError, URLError)):
        slow.oauth_v2_access(
            client_id=standin.client_id,
            client_secret=standin.client_secret,
            code=code_from(redirect),
            redirect_uri=REDIRECT,
        )
    assert len(standin.issued) == 1


def _get(standin: SlackStandIn, path: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection(standin.host, standin.port, timeout=5)
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.read().decode()


def _post_form(standin: SlackStandIn, path: str, form: dict[str, str]) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection(standin.host, standin.port, timeout=5)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    connection.request("POST", path, body=urlencode(form), headers=headers)
    return connection.getresponse()


def test_authorize_page_escapes_and_buttons_redirect(standin: SlackStandIn) -> None:
    url = authorize_url(standin, state="<b>x</b>")
    status, html = _get(standin, urlsplit(url).path + "?" + urlsplit(url).query)
    assert status == 200 and "<b>x</b>" not in html
    assert ">Allow</button>" in html and ">Cancel</button>" in html
    assert "org-wide (Enterprise Grid)" in html and "with token rotation" in html
    form_key = html.split('name="form_key" value="')[1].split('"')[0]
    query = urlsplit(url).query
    form = {"q": query, "form_key": form_key, "target": "org", "rotation": "1"}
    allowed = _post_form(standin, "/oauth/v2/authorize", {**form, "decision": "allow"})
    location = allowed.getheader("Location")
    assert allowed.status == 302 and location is not None
    assert location.startswith(REDIRECT + "?code=")
    assert parse_qs(urlsplit(location).query)["state"] == ["<b>x</b>"]
    assert exchange(standin, location)["is_enterprise_install"] is True
    cancelled = _post_form(standin, "/oauth/v2/authorize", {**form, "decision": "cancel"})
    cancelled_location = cancelled.getheader("Location")
    assert cancelled_location is not None
    params = parse_qs(urlsplit(cancelled_location).query)
    assert params["error"] == ["access_denied"] and params["state"] == ["<b>x</b>"]
    assert params["error_description"][0].startswith("The user has denied access")


def test_unknown_client_id_shows_error_page(standin: SlackStandIn) -> None:
    status, html = _get(standin, "/oauth/v2/authorize?client_id=9.9&scope=commands")
    assert status == 400 and "invalid_client_id" in html
    with pytest.raises(AuthorizeError) as info:
        standin.approve(standin.authorize_url + "?client_id=9.9&scope=commands")
    assert info.value.code == "invalid_client_id"


def test_send_event_is_signed_like_slack(standin: SlackStandIn, receiver: Any) -> None:
    url, received = receiver
    secret = "signing-secret-for-this-test"
    event = {"type": "tokens_revoked", "tokens": {"oauth": ["U1"], "bot": []}}
    result = standin.send_event(
        event, team_id="T0STANDIN1", events_url=url, signing_secret=secret, retry_num=1
    )
    assert result == (200, "ok")
    headers, body = received[0]
    assert SignatureVerifier(secret).is_valid_request(body, headers)
    assert headers["x-slack-retry-num"] == "1"
    payload = json.loads(body)
    assert payload["type"] == "event_callback" and payload["event"] == event
    assert payload["authorizations"][0]["team_id"] == "T0STANDIN1"
    assert payload["event_id"].startswith("Ev")


def test_uninstall_revokes_and_sends_app_uninstalled(standin: SlackStandIn, receiver: Any) -> None:
    url, received = receiver
    standin.events_url, standin.signing_secret = url, "another-test-signing-secret"
    body = exchange(standin, standin.approve(authorize_url(standin), org_wide=True)).data
    assert standin.uninstall(None, "E0STANDIN1")[0] == 200
    payload = json.loads(received[0][1])
    assert payload["event"] == {"type": "app_uninstalled"}
    assert payload["enterprise_id"] == "E0STANDIN1"
    assert payload["authorizations"][0]["is_enterprise_install"] is True
    assert known_token(standin, body["access_token"])["revoked"] is True
    assert "uninstalled" in _get(standin, "/")[1]


def test_demo_page_uninstall_button(standin: SlackStandIn) -> None:
    token = exchange(standin, standin.approve(authorize_url(standin)))["access_token"]
    status, html = _get(standin, "/")
    assert status == 200 and "Uninstall app" in html and "T0STANDIN1" in html
    form_key = html.split('name="form_key" value="')[1].split('"')[0]
    forged = _post_form(standin, "/uninstall", {"team_id": "T0STANDIN1", "form_key": "x"})
    assert forged.status == 400 and known_token(standin, token)["revoked"] is False
    response = _post_form(standin, "/uninstall", {"team_id": "T0STANDIN1", "form_key": form_key})
    assert response.status == 303 and known_token(standin, token)["revoked"] is True


def test_standin_is_quiet(standin: SlackStandIn, capfd: pytest.CaptureFixture[str]) -> None:
    token = exchange(standin, standin.approve(authorize_url(standin)))["access_token"]
    client(standin).auth_test(token=token)
    _get(standin, "/nowhere")
    out, err = capfd.readouterr()
    assert token not in out + err and "GET" not in err and "POST" not in err


def test_devserver_exports_standin_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from slackstandin import devserver

    monkeypatch.setattr(devserver, "STANDIN_PORT", 0)  # never collide with a running make run
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "devserver-test-signing-secret")
    for name in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_API_URL", "SLACK_AUTHORIZE_URL"):
        monkeypatch.delenv(name, raising=False)
    server = devserver.start_standin()
    try:
        assert os.environ["SLACK_CLIENT_ID"] == server.client_id
        assert os.environ["SLACK_CLIENT_SECRET"] == server.client_secret
        assert os.environ["SLACK_API_URL"] == server.api_url
        assert os.environ["SLACK_AUTHORIZE_URL"] == server.authorize_url
        assert server.events_url == "http://127.0.0.1:8000/slack/events"
        assert server.signing_secret == "devserver-test-signing-secret"
    finally:
        server.stop()


@pytest.mark.skipif((ROOT / ".env").exists(), reason="a local .env may configure a real app")
def test_devserver_refuses_standin_without_django_debug() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_CLIENT")}
    env["DJANGO_DEBUG"] = "false"
    result = subprocess.run(
        [sys.executable, "-m", "slackstandin.devserver"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "DJANGO_DEBUG" in result.stderr


@pytest.mark.parametrize("debug", ["false", ""])
def test_cli_refuses_without_django_debug(debug: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_DEBUG"}
    if debug:
        env["DJANGO_DEBUG"] = debug
    result = subprocess.run(
        [sys.executable, "-m", "slackstandin", "--client-id", "1", "--client-secret", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "DJANGO_DEBUG" in result.stderr


# --- fault modes that misbehave at the HTTP level (tests/slack/test_fault_matrix.py uses them all)


def _post(standin: SlackStandIn, method: str, form: dict[str, str], **kw: Any) -> Any:
    """POST to an API method with http.client: (status, headers, body), unjudged."""
    timeout = kw.get("timeout", 5)
    connection = http.client.HTTPConnection(standin.host, standin.port, timeout=timeout)
    headers = {"Content-Type": "application/x-www-form-urlencoded", **kw.get("headers", {})}
    connection.request("POST", f"/api/{method}", body=urlencode(form), headers=headers)
    response = connection.getresponse()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def _code_form(standin: SlackStandIn) -> dict[str, str]:
    return {
        "client_id": standin.client_id,
        "client_secret": standin.client_secret,
        "code": code_from(standin.approve(authorize_url(standin))),
        "redirect_uri": REDIRECT,
    }


def test_fail_next_with_nothing_is_still_internal_error(standin: SlackStandIn) -> None:
    standin.fail_next("auth.test")
    assert slack_error(lambda: client(standin, retry_handlers=[]).auth_test(token="x")) == (
        "internal_error"
    )


@pytest.mark.parametrize("value", ["abc", "-5", "1e9", "86400", "", 0])
def test_fail_next_429_with_any_retry_after(standin: SlackStandIn, value: object) -> None:
    standin.fail_next("auth.test", status=429, retry_after=value)  # type: ignore[arg-type]
    status, headers, body = _post(standin, "auth.test", {"token": "x"})
    assert (status, headers["retry-after"]) == (429, str(value))
    assert json.loads(body) == {"ok": False, "error": "ratelimited"}


def test_fail_next_html_pages_raw_bodies_and_json_values(standin: SlackStandIn) -> None:
    standin.fail_next("auth.test", status=503, html=True)
    status, headers, body = _post(standin, "auth.test", {"token": "x"})
    assert status == 503 and headers["content-type"].startswith("text/html")
    assert b"<h1>503 Service Unavailable</h1>" in body
    standin.fail_next("auth.test", raw=b"\xff\xfe<oops>", content_type="text/plain; charset=x")
    status, headers, body = _post(standin, "auth.test", {"token": "x"})
    assert (status, headers["content-type"]) == (200, "text/plain; charset=x")
    assert body == b"\xff\xfe<oops>"
    for value in ([1, 2], "text", None, 3.5, {"ok": "yes"}):
        standin.fail_next("auth.test", body=value)
        status, headers, body = _post(standin, "auth.test", {"token": "x"})
        assert (status, json.loads(body)) == (200, value)
        assert headers["content-type"] == "application/json; charset=utf-8"


def test_replacing_faults_do_no_work(standin: SlackStandIn) -> None:
    faults: list[dict[str, Any]] = [
        {"html": True},
        {"body": []},
        {"raw": b"x"},
        {"huge": 100},
        {"redirect": "/x"},
    ]
    for fault in faults:
        form = _code_form(standin)
        standin.fail_next("oauth.v2.access", **fault)
        _post(standin, "oauth.v2.access", form)
        assert standin.issued == [] and standin.lost == []
        status, _, body = _post(standin, "oauth.v2.access", form)
        assert status == 200 and json.loads(body)["ok"] is True  # the code was not spent
        standin.state.issued.clear()


def test_truncated_and_patched_answers_are_issued_and_recorded(standin: SlackStandIn) -> None:
    standin.fail_next("oauth.v2.access", truncate=40)
    status, headers, body = _post(standin, "oauth.v2.access", _code_form(standin))
    assert (status, len(body), headers["content-length"]) == (200, 40, "40")
    assert standin.lost == standin.issued and len(standin.issued) == 1
    standin.fail_next("oauth.v2.access", patch={"team.id": 5, "expires_in": "abc"})
    body = json.loads(_post(standin, "oauth.v2.access", _code_form(standin))[2])
    assert body["team"] == {"id": 5, "name": "Stand-in Workspace"} and body["expires_in"] == "abc"
    assert standin.issued[1]["team"]["id"] == "T0STANDIN1"  # the record keeps the true answer
    assert len(standin.lost) == 1  # every token was delivered legibly
    standin.fail_next("oauth.v2.access", patch={"access_token": None})
    _post(standin, "oauth.v2.access", _code_form(standin))
    assert standin.lost[-1] is not None and len(standin.lost) == 2


def test_charset_encodes_the_real_answer(standin: SlackStandIn) -> None:
    standin.fail_next("oauth.v2.access", charset="utf-16")
    _, headers, body = _post(standin, "oauth.v2.access", _code_form(standin))
    assert headers["content-type"] == "application/json; charset=utf-16"
    assert json.loads(body.decode("utf-16")) == standin.issued[0]


def test_huge_answers_stream_without_content_length(standin: SlackStandIn) -> None:
    standin.fail_next("auth.test", huge=3 * 1024 * 1024)
    status, headers, body = _post(standin, "auth.test", {"token": "x"})
    assert status == 200 and "content-length" not in headers
    assert len(body) == 3 * 1024 * 1024 and json.loads(body)["ok"] is True


def test_trickled_answers_arrive_a_byte_at_a_time(standin: SlackStandIn) -> None:
    standin.fail_next("auth.test", body={"ok": True}, trickle=0.05)
    started = time.monotonic()
    _, _, body = _post(standin, "auth.test", {"token": "x"})
    assert json.loads(body) == {"ok": True} and time.monotonic() - started >= 0.05 * len(body)
    standin.fail_next("oauth.v2.access", trickle=1.0)
    with pytest.raises(TimeoutError):  # a byte a second: this client's per-read timeout fires
        _post(standin, "oauth.v2.access", _code_form(standin), timeout=0.5)
    assert standin.lost == standin.issued  # issued, never delivered whole


def test_redirects_name_any_location(standin: SlackStandIn) -> None:
    standin.fail_next("auth.test", redirect="http://127.0.0.1:9/api/auth.test", status=307)
    status, headers, body = _post(standin, "auth.test", {"token": "x"})
    assert (status, headers["location"], body) == (307, "http://127.0.0.1:9/api/auth.test", b"")
    standin.fail_next("auth.test", redirect="http://elsewhere.invalid/")
    assert _post(standin, "auth.test", {"token": "x"})[0] == 302


def test_auth_revoke_revokes_a_refresh_token_on_its_own(standin: SlackStandIn) -> None:
    body = exchange(standin, standin.approve(authorize_url(standin), rotation=True)).data
    web = client(standin)
    assert web.auth_revoke(token=body["refresh_token"])["revoked"] is True
    assert known_token(standin, body["refresh_token"])["revoked"] is True
    assert web.auth_test(token=body["access_token"])["ok"] is True  # only that one token
    assert slack_error(lambda: web.auth_revoke(token=body["refresh_token"])) == "invalid_auth"
