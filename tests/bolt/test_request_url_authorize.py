"""The developer's app from ``new_bolt_app()`` behind /slack/events: authorized by Bolt's own
authorize over our store, asking ``auth.test`` once per token (installations/bolt/authorize.py).

Events are signed like Slack's and posted to our Request URL with Django's test client; the
listener runs before the answer (``process_before_response``), on the test's connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from slack_bolt import App, BoltContext
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import InstallationStoreAuthorize
from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore

from installations.bolt import request_url
from installations.bolt.async_authorize import AsyncDjangoAuthorize
from installations.bolt.authorize import DjangoAuthorize
from slackstandin import SlackStandIn, messaging
from slackstandin import events as standin_events
from slackstandin.state import INSTALLER_USER_ID

pytestmark = pytest.mark.django_db

SEEN: list[dict[str, Any]] = []


def build_app() -> App:
    app: App = request_url.new_bolt_app(process_before_response=True)

    @app.event("app_mention")
    def remember(context: BoltContext, say: Any) -> None:
        SEEN.append({"bot_token": context.bot_token, "user_token": context.user_token})
        say("seen")

    return app


@pytest.fixture
def bolt_app(settings: Any) -> Any:
    SEEN.clear()
    settings.SLACK_BOLT_APP = f"{__name__}.build_app"
    return request_url.configured_app()


def mention(team_id: str, user: str = INSTALLER_USER_ID) -> dict[str, Any]:
    return standin_events.envelope(
        messaging.mention_event("hello", user=user),
        team_id=team_id,
        enterprise_id=None,
        is_enterprise_install=False,
        event_id=None,
        event_time=None,
    )


def test_new_bolt_app_asks_auth_test_once_per_token(
    standin: SlackStandIn,
    install: Callable[..., Any],
    bolt_app: Any,
    post_event: Callable[..., Any],
) -> None:
    assert isinstance(bolt_app._authorize, DjangoAuthorize)
    _, body = install(user_token=True, auth_test=True)
    before = len(standin.calls_to("auth.test"))
    for user in (INSTALLER_USER_ID, "U0SOMEONE2", INSTALLER_USER_ID):
        response = post_event(mention("T0STANDIN1", user))
        assert response.status_code == 200 and response.content == b""
    assert len(standin.calls_to("auth.test")) == before + 2  # the bot's and the user's token
    assert len(standin.calls_to("chat.postMessage")) == 3
    user_token = body["authed_user"]["access_token"]
    assert SEEN == [
        {"bot_token": body["access_token"], "user_token": user_token},
        {"bot_token": body["access_token"], "user_token": None},
        {"bot_token": body["access_token"], "user_token": user_token},
    ]


def test_an_event_for_a_workspace_not_installed_gets_bolts_answer(
    standin: SlackStandIn,
    install: Callable[..., Any],
    bolt_app: Any,
    post_event: Callable[..., Any],
) -> None:
    install()
    response = post_event(mention("T0ELSEWHR"))
    assert response.status_code == 200 and b"reinstall" in response.content  # Bolt's words
    assert SEEN == []


def test_a_developer_may_still_pass_an_authorize(settings: Any) -> None:
    def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id)

    app = request_url.new_bolt_app(authorize=authorize)
    assert not isinstance(app._authorize, DjangoAuthorize)


def test_another_store_keeps_bolts_own_authorize(tmp_path: Any) -> None:
    store = SQLite3InstallationStore(database=str(tmp_path / "s.db"), client_id="1111.2222")
    app = request_url.new_bolt_app(installation_store=store)
    assert isinstance(app._authorize, InstallationStoreAuthorize)


def test_new_async_bolt_app_uses_the_async_twin() -> None:
    app = request_url.new_async_bolt_app()
    assert isinstance(app, AsyncApp) and isinstance(app._async_authorize, AsyncDjangoAuthorize)
