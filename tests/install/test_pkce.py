"""PKCE on the install flow (installations/install/pkce.py), end to end through the stand-in.

docs/slack-protocol.md §1 and §2: with SLACK_PKCE the authorize URL carries an S256 challenge,
the verifier never travels in a URL, and the code exchange sends it; the stand-in refuses a
missing or wrong verifier with Slack's ``invalid_code_verifier``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import string
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
from django.core import signing
from hypothesis import given
from hypothesis import strategies as st

from installations.checks import check_pkce_setting
from installations.install import pkce
from installations.install.state import INSTALL_SALT, SEPARATOR, StateCheck, read_state
from installations.models import Installation, OAuthState, Workspace
from tests.support.flow import Flow, query_of

RFC7636_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
BASE64URL_SHA256 = re.compile(r"[A-Za-z0-9_-]{43}")
URL_SAFE = string.ascii_letters + string.digits + "-_."
browser_values = st.text(
    alphabet=string.ascii_letters + string.digits + "-_", min_size=43, max_size=43
)
states = st.text(alphabet=URL_SAFE, min_size=1, max_size=1000)


# --- the generator: RFC 7636's charset and length, the S256 transform ------------------------


@given(state=states, browser=browser_values)
def test_verifier_has_rfc7636_charset_and_length(state: str, browser: str) -> None:
    verifier = pkce.verifier_for(state, browser)
    assert RFC7636_VERIFIER.fullmatch(verifier)
    assert pkce.is_valid_verifier(verifier)
    assert verifier == pkce.verifier_for(state, browser)  # recomputed identically at the callback


@given(
    verifier=st.text(
        alphabet=string.ascii_letters + string.digits + "-._~", min_size=43, max_size=128
    )
)
def test_challenge_is_base64url_of_sha256(verifier: str) -> None:
    challenge = pkce.challenge_for(verifier)
    assert BASE64URL_SHA256.fullmatch(challenge)
    padded = challenge + "="
    assert base64.urlsafe_b64decode(padded) == hashlib.sha256(verifier.encode()).digest()


@given(state=states, browser=browser_values, other=browser_values)
def test_another_browser_or_state_gives_another_verifier(
    state: str, browser: str, other: str
) -> None:
    if other != browser:
        assert pkce.verifier_for(state, browser) != pkce.verifier_for(state, other)
    assert pkce.verifier_for(state, browser) != pkce.verifier_for(state + "x", browser)


@given(text=st.text(max_size=200))
def test_is_valid_verifier_is_the_rfc7636_grammar(text: str) -> None:
    assert pkce.is_valid_verifier(text) == bool(RFC7636_VERIFIER.fullmatch(text))


def test_rfc7636_appendix_b_example() -> None:
    assert (
        pkce.challenge_for("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


# --- the state's PKCE mark -------------------------------------------------------------------


@pytest.mark.parametrize("mark", [1, "true", False, None, []])
def test_a_pkce_mark_other_than_true_is_not_our_state(mark: Any) -> None:
    signer = signing.Signer(salt=INSTALL_SALT, sep=SEPARATOR)
    now = int(time.time())
    payload = {"n": "nonce-nonce-nonce", "i": now, "e": now + 600, "t": "", "b": "", "p": True}
    assert read_state(signer.sign_object(payload)).check is StateCheck.LIVE  # the real mark
    payload["p"] = mark
    assert read_state(signer.sign_object(payload)).check is StateCheck.INVALID


@pytest.mark.parametrize("value", ["false", "true", 1, 0])
def test_a_setting_other_than_a_boolean_is_a_check_error(settings: Any, value: Any) -> None:
    settings.SLACK_PKCE = value
    [error] = check_pkce_setting()
    assert error.id == "installations.E014" and repr(value) in error.msg


def test_a_boolean_setting_passes_the_check(settings: Any) -> None:
    for value in (True, False):
        settings.SLACK_PKCE = value
        assert check_pkce_setting() == []


# --- end to end through the stand-in ---------------------------------------------------------


def with_state(redirect: str, state: str) -> str:
    parts = urlsplit(redirect)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["state"] = state
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_off_by_default_no_pkce_parameter(flow: Flow) -> None:
    url = flow.start()
    assert "code_challenge" not in query_of(url)
    assert flow.back(flow.standin.approve(url)).status_code == 302
    (call,) = flow.standin.calls_to("oauth.v2.access")
    assert "code_verifier" not in call.params


def test_install_with_pkce_end_to_end(flow: Flow, settings: Any) -> None:
    settings.SLACK_PKCE = True
    url = flow.start()
    query = query_of(url)
    assert query["code_challenge_method"] == "S256"
    assert BASE64URL_SHA256.fullmatch(query["code_challenge"])
    assert "code_verifier" not in url
    assert read_state(query["state"]).payload.pkce  # type: ignore[union-attr]

    response = flow.back(flow.standin.approve(url))

    assert response.status_code == 302, response.content[:300]
    assert Workspace.objects.count() == 1 and Installation.objects.count() == 1
    (call,) = flow.standin.calls_to("oauth.v2.access")
    verifier = call.params["code_verifier"]
    assert pkce.is_valid_verifier(verifier)
    assert pkce.challenge_for(verifier) == query["code_challenge"]
    assert verifier not in url and verifier != flow.state_cookie()


def test_a_state_issued_with_pkce_keeps_it_when_the_setting_changes(
    flow: Flow, settings: Any
) -> None:
    settings.SLACK_PKCE = True
    url = flow.start()
    settings.SLACK_PKCE = False  # a deploy between the click and the callback
    assert flow.back(flow.standin.approve(url)).status_code == 302
    (call,) = flow.standin.calls_to("oauth.v2.access")
    assert pkce.challenge_for(call.params["code_verifier"]) == query_of(url)["code_challenge"]


def test_a_swapped_state_yields_a_verifier_slack_refuses(flow: Flow, settings: Any) -> None:
    """Two tabs of one browser: tab A's code comes back with tab B's (valid, bound) state."""
    settings.SLACK_PKCE = True
    url_a, url_b = flow.start(), flow.start()
    redirect_a = flow.standin.approve(url_a)

    response = flow.back(with_state(redirect_a, query_of(url_b)["state"]))

    assert response.status_code == 400
    body = response.content.decode()
    assert "belongs to another installation attempt" in body and "invalid_code_verifier" in body
    assert 'href="/slack/install"' in body
    assert not Workspace.objects.exists() and not Installation.objects.exists()
    assert flow.standin.issued == []
    (call,) = flow.standin.calls_to("oauth.v2.access")
    assert pkce.challenge_for(call.params["code_verifier"]) != query_of(url_a)["code_challenge"]
    # State B was spent by that callback: replaying it is refused before any exchange.
    assert OAuthState.objects.count() == 1
    assert flow.back(with_state(redirect_a, query_of(url_b)["state"])).status_code == 400
    assert len(flow.standin.calls_to("oauth.v2.access")) == 1


def test_another_browser_cannot_finish_with_the_state(flow: Flow, settings: Any) -> None:
    """The verifier needs the browser's cookie: a state and code taken elsewhere are refused
    before any exchange (the binding check), so no verifier is ever computed for them."""
    from django.test import Client

    settings.SLACK_PKCE = True
    redirect = flow.standin.approve(flow.start())
    response = flow.back(redirect, client=Client())
    assert response.status_code == 400
    assert flow.standin.calls_to("oauth.v2.access") == []
