"""The stand-in issues only what the authorize request asked for, as Slack does: a user token
only for user scopes, a webhook only for the incoming-webhook scope (docs/slack-protocol.md §2)."""

from __future__ import annotations

import pytest

from slackstandin import SlackStandIn
from tests.standin.test_standin import authorize_url, exchange

# --- nothing issued that was not asked for ---------------------------------------------------


def test_no_user_scopes_no_user_token(standin: SlackStandIn) -> None:
    body = exchange(standin, standin.approve(authorize_url(standin))).data
    assert body["authed_user"] == {"id": "U0STANDINUSR"}
    with pytest.raises(ValueError, match="user_scope"):
        standin.approve(authorize_url(standin), user_token=True)


def test_user_scopes_give_a_user_token(standin: SlackStandIn) -> None:
    url = authorize_url(standin, user_scopes=("search:read",))
    user = exchange(standin, standin.approve(url)).data["authed_user"]
    assert user["scope"] == "search:read" and user["token_type"] == "user"


def test_no_incoming_webhook_scope_no_webhook(standin: SlackStandIn) -> None:
    body = exchange(standin, standin.approve(authorize_url(standin))).data
    assert "incoming_webhook" not in body
    with pytest.raises(ValueError, match="incoming-webhook"):
        standin.approve(authorize_url(standin), webhook=True)
    url = authorize_url(standin, scopes=["commands", "incoming-webhook"])
    assert "incoming_webhook" in exchange(standin, standin.approve(url)).data


def test_the_authorize_page_offers_no_user_token_or_webhook_switch(standin: SlackStandIn) -> None:
    from urllib.request import urlopen

    with urlopen(authorize_url(standin)) as page:  # noqa: S310 (the loopback stand-in)
        html = page.read().decode()
    assert 'name="user_token"' not in html and 'name="webhook"' not in html
    assert 'name="channel"' not in html  # no webhook asked for: no channel to pick
    with urlopen(authorize_url(standin, scopes=["incoming-webhook"])) as page:  # noqa: S310
        assert 'name="channel"' in page.read().decode()
