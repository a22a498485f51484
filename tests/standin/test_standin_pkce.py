"""PKCE on the stand-in, checked where Slack checks it: ``invalid_code_verifier`` on
oauth.v2.access, ``invalid_grant`` on openid.connect.token (docs/slack-protocol.md §1, §2, §8)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk import WebClient
from slack_sdk.oauth import OpenIDConnectAuthorizeUrlGenerator

from slackstandin import AuthorizeError, SlackStandIn
from slackstandin.pkce import Challenge
from tests.standin.test_standin import REDIRECT, authorize_url, client, code_from, slack_error


def s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


def with_challenge(url: str, challenge: str, method: str | None = "S256") -> str:
    url += f"&code_challenge={challenge}"
    return url + (f"&code_challenge_method={method}" if method is not None else "")


def exchange(standin: SlackStandIn, redirect: str, **extra: Any) -> Any:
    return client(standin).oauth_v2_access(
        client_id=standin.client_id,
        client_secret=standin.client_secret,
        code=code_from(redirect),
        redirect_uri=REDIRECT,
        **extra,
    )


VERIFIER = secrets.token_urlsafe(32)


# --- PKCE on oauth.v2.access -----------------------------------------------------------------


def test_the_right_verifier_exchanges_the_code(standin: SlackStandIn) -> None:
    redirect = standin.approve(with_challenge(authorize_url(standin), s256(VERIFIER)))
    assert exchange(standin, redirect, code_verifier=VERIFIER)["ok"] is True


@pytest.mark.parametrize("extra", [{}, {"code_verifier": ""}, {"code_verifier": "x" * 43}])
def test_a_missing_or_wrong_verifier_is_invalid_code_verifier(
    standin: SlackStandIn, extra: dict[str, str]
) -> None:
    redirect = standin.approve(with_challenge(authorize_url(standin), s256(VERIFIER)))
    assert slack_error(lambda: exchange(standin, redirect, **extra)) == "invalid_code_verifier"
    assert standin.issued == []
    # A refused attempt leaves the code unspent, as for bad_redirect_uri.
    assert exchange(standin, redirect, code_verifier=VERIFIER)["ok"] is True


def test_plain_method_and_no_method_compare_the_verifier_itself(standin: SlackStandIn) -> None:
    for method in ("plain", None):
        redirect = standin.approve(with_challenge(authorize_url(standin), VERIFIER, method))
        assert slack_error(lambda r=redirect: exchange(standin, r, code_verifier=s256(VERIFIER)))
        assert exchange(standin, redirect, code_verifier=VERIFIER)["ok"] is True


def test_without_a_challenge_a_verifier_is_not_looked_at(standin: SlackStandIn) -> None:
    redirect = standin.approve(authorize_url(standin))
    assert exchange(standin, redirect, code_verifier="anything")["ok"] is True


@pytest.mark.parametrize(
    "suffix",
    [
        "&code_challenge_method=S256",  # a method without a challenge
        "&code_challenge=short&code_challenge_method=S256",
        f"&code_challenge={'a' * 43}&code_challenge_method=S512",
        f"&code_challenge={'a' * 129}",
    ],
)
def test_a_malformed_challenge_is_refused_at_authorize(standin: SlackStandIn, suffix: str) -> None:
    with pytest.raises(AuthorizeError) as info:
        standin.approve(authorize_url(standin) + suffix)
    assert info.value.code == "invalid_request"


@given(verifier=st.text(min_size=0, max_size=200))
def test_challenge_accepts_only_its_own_verifier(verifier: str) -> None:
    challenge = Challenge(s256(VERIFIER), "S256")
    assert challenge.accepts(verifier) == (verifier == VERIFIER)


# --- PKCE on openid.connect.token ------------------------------------------------------------


def signin_url(standin: SlackStandIn, challenge: str | None) -> str:
    url = OpenIDConnectAuthorizeUrlGenerator(
        client_id=standin.client_id,
        redirect_uri=REDIRECT,
        scopes=["openid"],
        authorization_url=standin.signin_authorize_url,
    ).generate(state="state-1", nonce="nonce-1")
    return with_challenge(url, challenge) if challenge else url


def oidc_token(standin: SlackStandIn, redirect: str, **extra: Any) -> Any:
    return WebClient(base_url=standin.api_url).openid_connect_token(
        client_id=standin.client_id,
        client_secret=standin.client_secret,
        code=code_from(redirect),
        redirect_uri=REDIRECT,
        **extra,
    )


def test_signin_code_with_a_challenge_needs_its_verifier(standin: SlackStandIn) -> None:
    redirect = standin.approve_signin(signin_url(standin, s256(VERIFIER)))
    assert slack_error(lambda: oidc_token(standin, redirect)) == "invalid_grant"
    wrong = {"code_verifier": "y" * 43}
    assert slack_error(lambda: oidc_token(standin, redirect, **wrong)) == "invalid_grant"
    assert oidc_token(standin, redirect, code_verifier=VERIFIER)["ok"] is True
