"""Contract: every answer the stand-in gives has the shape of Slack's documented answer.

The documented examples are stored beside this file (``slack_docs/<method>.json``, each with
its source URL and notes on where a field is documented). An answer matches when it has the
same keys, recursively, with values of the same JSON types (docs/slack-protocol.md,
"The stand-in's contract"). Values are the stand-in's own fakes and are not compared.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth import OpenIDConnectAuthorizeUrlGenerator

from slackstandin import SlackStandIn
from tests.standin.test_standin import REDIRECT, authorize_url, code_from

DOCS = Path(__file__).parent / "slack_docs"
Shape = Any


def documented(method: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DOCS / f"{method}.json").read_text())
    assert data["source"].startswith("https://")
    return data


def expected(method: str, example: str) -> dict[str, Any]:
    """The documented example, with the fields the method's documented field list adds."""
    data = documented(method)
    body = dict(data["examples"][example])
    if body.get("ok") is True:
        for key, value in data["documented_fields"].items():
            body.setdefault(key, value)
    return body


def shape(value: Any) -> Shape:
    """Keys, recursively, with JSON type names in place of values."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string"}[type(value)]


def differences(got: Any, want: Any, path: str = "") -> list[str]:
    """Readable differences between two shapes (empty when they match). Each item of a list
    is compared with the documented list's first item."""
    if isinstance(got, list) and isinstance(want, list) and want:
        found: list[str] = []
        for index, item in enumerate(got):
            found += differences(item, want[0], f"{path}[{index}]")
        return found
    if isinstance(got, dict) and isinstance(want, dict):
        found = [f"{path}.{key}: not documented" for key in sorted(got.keys() - want.keys())]
        found += [f"{path}.{key}: missing" for key in sorted(want.keys() - got.keys())]
        for key in sorted(got.keys() & want.keys()):
            found += differences(got[key], want[key], f"{path}.{key}")
        return found
    return [] if got == want else [f"{path}: {got} instead of {want}"]


def assert_matches(answer: Any, method: str, example: str) -> None:
    problems = differences(shape(answer), shape(expected(method, example)))
    assert not problems, f"{method} ({example}) differs from Slack's docs: {problems}"


def api(standin: SlackStandIn) -> WebClient:
    return WebClient(base_url=standin.api_url)


def install(
    standin: SlackStandIn, *, scopes: list[str], user_scopes: tuple[str, ...] = (), **choices: Any
) -> dict[str, Any]:
    url = authorize_url(standin, scopes=scopes, user_scopes=user_scopes)
    redirect = standin.approve(url, **choices)
    body = (
        api(standin)
        .oauth_v2_access(
            client_id=standin.client_id,
            client_secret=standin.client_secret,
            code=code_from(redirect),
            redirect_uri=REDIRECT,
        )
        .data
    )
    assert isinstance(body, dict)
    return body


# the examples are of a workspace inside a Grid org
GRID: dict[str, Any] = {"enterprise_id": "E0STANDIN1"}


# --- oauth.v2.access ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("example", "scopes", "user_scopes", "choices"),
    [
        ("bot_only", ["commands"], (), GRID),
        ("bot_and_user", ["commands"], ("chat:write",), GRID),
        ("org_wide", ["users:read"], ("users:read",), {"org_wide": True}),
        ("user_only", [], ("search:read",), {}),
        ("webhook", ["commands", "incoming-webhook"], (), GRID),
        ("rotation", ["commands"], ("chat:write",), {**GRID, "rotation": True}),
    ],
)
def test_oauth_v2_access(
    standin: SlackStandIn,
    example: str,
    scopes: list[str],
    user_scopes: tuple[str, ...],
    choices: dict[str, Any],
) -> None:
    body = install(standin, scopes=scopes, user_scopes=user_scopes, **choices)
    assert_matches(body, "oauth.v2.access", example)


def test_oauth_v2_access_refresh(standin: SlackStandIn) -> None:
    body = install(standin, scopes=["commands"], rotation=True, **GRID)
    refreshed = api(standin).oauth_v2_access(
        client_id=standin.client_id,
        client_secret=standin.client_secret,
        grant_type="refresh_token",
        refresh_token=body["refresh_token"],
    )
    assert_matches(refreshed.data, "oauth.v2.access", "refresh")


@pytest.mark.parametrize(
    ("method", "call"),
    [("oauth.v2.access", "oauth_v2_access"), ("openid.connect.token", "openid_connect_token")],
)
def test_a_refused_code_exchange(standin: SlackStandIn, method: str, call: str) -> None:
    exchange = getattr(api(standin), call)
    with pytest.raises(SlackApiError) as info:
        exchange(client_id=standin.client_id, client_secret=standin.client_secret, code="nope")
    assert_matches(info.value.response.data, method, "error")


# --- auth.test, auth.revoke ------------------------------------------------------------------


def test_auth_test_bot_token(standin: SlackStandIn) -> None:
    body = install(standin, scopes=["commands"])
    assert_matches(
        api(standin).auth_test(token=body["access_token"]).data, "auth.test", "bot_token"
    )


def test_auth_test_rotating_bot_token_in_a_grid_org(standin: SlackStandIn) -> None:
    body = install(standin, scopes=["commands"], rotation=True, **GRID)
    answer = api(standin).auth_test(token=body["access_token"]).data
    assert_matches(answer, "auth.test", "grid_rotating_bot_token")


def test_auth_test_error(standin: SlackStandIn) -> None:
    with pytest.raises(SlackApiError) as info:
        api(standin).auth_test(token="xoxb-not-issued-by-the-stand-in")
    assert_matches(info.value.response.data, "auth.test", "error")


def test_auth_revoke(standin: SlackStandIn) -> None:
    body = install(standin, scopes=["commands"])
    assert_matches(
        api(standin).auth_revoke(token=body["access_token"]).data, "auth.revoke", "revoked"
    )


# --- Sign in with Slack ----------------------------------------------------------------------


def signin_redirect(standin: SlackStandIn) -> str:
    url = OpenIDConnectAuthorizeUrlGenerator(
        client_id=standin.client_id,
        redirect_uri=REDIRECT,
        scopes=["openid", "email", "profile"],
        authorization_url=standin.signin_authorize_url,
    ).generate(state="state-1", nonce="nonce-1")
    return standin.approve_signin(url)


def test_openid_connect_token(standin: SlackStandIn) -> None:
    answer = api(standin).openid_connect_token(
        client_id=standin.client_id,
        client_secret=standin.client_secret,
        code=code_from(signin_redirect(standin)),
        redirect_uri=REDIRECT,
    )
    assert_matches(answer.data, "openid.connect.token", "token")


def test_openid_connect_keys(standin: SlackStandIn) -> None:
    with urlopen(standin.jwks_url) as answer:  # noqa: S310 (the loopback stand-in)
        assert_matches(json.loads(answer.read()), "openid.connect.token", "keys")


# --- events ----------------------------------------------------------------------------------


def assert_event_matches(payload: dict[str, Any], example: str) -> None:
    """The wrapper has every required field and only documented ones; the fields of the
    documented example have its shapes. An ``authorizations`` item has the documented fields
    (the examples leave out its ``enterprise_id``, null outside a Grid org)."""
    data = documented("events")
    fields = data["wrapper_fields"]
    assert set(fields["required"]) <= payload.keys()
    assert payload.keys() <= {*fields["required"], *fields["optional"]}
    want = dict(data["examples"][example])
    for authorization in payload.get("authorizations", []):
        assert authorization.keys() == set(fields["authorization"])
        for item in want.pop("authorizations", []):
            common = {key: authorization[key] for key in item}
            assert differences(shape(common), shape(item)) == []
    got = {key: value for key, value in payload.items() if key in want}
    problems = differences(shape(got), shape(want))
    assert not problems, f"{example} differs from Slack's docs: {problems}"


def test_app_uninstalled_event(standin: SlackStandIn, receiver: Any) -> None:
    url, received = receiver
    standin.events_url, standin.signing_secret = url, "contract-test-signing-secret"
    install(standin, scopes=["commands"])
    assert standin.uninstall("T0STANDIN1")[0] == 200
    assert_event_matches(json.loads(received[0][1]), "app_uninstalled")


def test_tokens_revoked_event(standin: SlackStandIn, receiver: Any) -> None:
    url, received = receiver
    event = {
        "type": "tokens_revoked",
        "tokens": {"oauth": ["U0STANDINUSR"], "bot": ["U0STANDINBOT"]},
    }
    standin.send_event(
        event, team_id="T0STANDIN1", events_url=url, signing_secret="contract-secret"
    )
    assert_event_matches(json.loads(received[0][1]), "tokens_revoked")


def test_url_verification(standin: SlackStandIn, receiver: Any) -> None:
    url, received = receiver
    challenge, status, _ = standin.verify_url(events_url=url, signing_secret="contract-secret")
    payload = json.loads(received[0][1])
    assert status == 200 and payload["challenge"] == challenge
    assert (
        differences(shape(payload), shape(documented("events")["examples"]["url_verification"]))
        == []
    )


# --- the comparison itself -------------------------------------------------------------------


def test_a_missing_extra_or_retyped_field_is_a_difference() -> None:
    want = shape({"ok": True, "team": {"id": "T1", "name": "n"}, "enterprise": None})
    assert (
        differences(
            shape({"ok": True, "team": {"id": "T1", "name": "n"}, "enterprise": None}), want
        )
        == []
    )
    assert differences(shape({"ok": True, "team": {"id": "T1"}, "enterprise": None}), want) == [
        ".team.name: missing"
    ]
    extra = {"ok": True, "team": {"id": "T1", "name": "n", "x": 1}, "enterprise": None}
    assert differences(shape(extra), want) == [".team.x: not documented"]
    retyped = {"ok": "true", "team": {"id": "T1", "name": "n"}, "enterprise": {}}
    assert sorted(differences(shape(retyped), want)) == [
        ".enterprise: {} instead of null",
        ".ok: string instead of boolean",
    ]
