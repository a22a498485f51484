"""The developer's app from ``new_bolt_app()`` behind /slack/events: authorized by Bolt's own
authorize over our store, asking ``auth.test`` once per token (installations/bolt/authorize.py).

Events are signed like Slack's and posted to our Request URL with Django's test client; the
listener runs before the answer (``process_before_response``), on the test's connection.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.utils import timezone
from slack_bolt import App, BoltContext
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.async_app import AsyncBoltContext
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import InstallationStoreAuthorize
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore
from slack_sdk.signature import SignatureVerifier

from installations.bolt import request_url
from installations.bolt.async_authorize import AsyncDjangoAuthorize
from installations.bolt.async_store import AsyncDjangoInstallationStore, AsyncDjangoOAuthStateStore
from installations.bolt.authorize import DjangoAuthorize
from installations.bolt.store import DjangoInstallationStore, DjangoOAuthStateStore
from installations.conf import slack_config
from installations.models import Installation, Workspace
from slackstandin import SlackStandIn, messaging
from slackstandin import events as standin_events
from slackstandin.state import INSTALLER_USER_ID
from tests.bolt.test_bolt_async_app import run  # asyncio.run, the async ORM's connections closed
from tests.support.lifecycle import refresh_calls

pytestmark = pytest.mark.django_db

SEEN: list[dict[str, Any]] = []
T = TypeVar("T")


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


@pytest.mark.parametrize("new_app", [request_url.new_bolt_app, request_url.new_async_bolt_app])
def test_bolts_own_authorize_over_another_store_refreshes_at_the_configured_slack_api(
    new_app: Callable[..., Any], tmp_path: Any, settings: Any
) -> None:
    settings.SLACK_API_URL = "http://127.0.0.1:9/api/"  # not Slack's default
    store = SQLite3InstallationStore(database=str(tmp_path / "s.db"), client_id="1111.2222")
    app = new_app(installation_store=store)
    authorize: Any = app._async_authorize if isinstance(app, AsyncApp) else app._authorize
    assert authorize.token_rotator.client.base_url == "http://127.0.0.1:9/api/"


def test_new_async_bolt_app_uses_the_async_twin() -> None:
    app = request_url.new_async_bolt_app()
    assert isinstance(app, AsyncApp) and isinstance(app._async_authorize, AsyncDjangoAuthorize)


# --- Slack credentials in the environment ------------------------------------------------------
# With SLACK_CLIENT_ID / SLACK_CLIENT_SECRET in the environment, Bolt gives an App an OAuth flow
# of its own, on file stores under $HOME, and sets that flow's rotation minutes on the App's
# authorize. new_bolt_app's settings keep our stores and our minutes instead.

ROTATION_MINUTES = 30  # ours; Bolt's default flow would set 120
EXPIRES_IN = timedelta(minutes=60)  # inside Bolt's 120 minutes, outside our 30


@pytest.fixture
def credentials_in_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, settings: Any
) -> Path:
    """Bolt finds client credentials in the environment; $HOME and the working directory are
    an empty folder, where Bolt's file stores would write."""
    monkeypatch.setenv("SLACK_CLIENT_ID", settings.SLACK_CLIENT_ID)
    monkeypatch.setenv("SLACK_CLIENT_SECRET", settings.SLACK_CLIENT_SECRET)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    settings.SLACK_TOKEN_ROTATION_MINUTES = ROTATION_MINUTES
    return tmp_path


def expiring_within_the_hour(workspace: Workspace) -> None:
    soon = timezone.now() + EXPIRES_IN
    Workspace.objects.filter(pk=workspace.pk).update(bot_token_expires_at=soon)
    Installation.objects.filter(workspace=workspace).update(user_token_expires_at=soon)


def test_credentials_in_the_environment_keep_our_stores_and_authorize(
    standin: SlackStandIn,
    install: Callable[..., Any],
    credentials_in_environment: Path,
    bolt_app: Any,
    post_event: Callable[..., Any],
) -> None:
    workspace, body = install(rotation=True, user_token=True, auth_test=False)
    expiring_within_the_hour(workspace)
    for user in (INSTALLER_USER_ID, INSTALLER_USER_ID):
        assert post_event(mention("T0STANDIN1", user)).status_code == 200
    assert refresh_calls(standin) == []  # our rotation minutes, not Bolt's default
    assert len(standin.calls_to("auth.test")) == 2  # DjangoAuthorize: once per token
    tokens = {"bot_token": body["access_token"], "user_token": body["authed_user"]["access_token"]}
    assert SEEN == [tokens, tokens]
    assert list(credentials_in_environment.iterdir()) == []  # no file store wrote anything
    flow = bolt_app.oauth_flow
    assert isinstance(flow.settings.installation_store, DjangoInstallationStore)
    assert isinstance(flow.settings.state_store, DjangoOAuthStateStore)


def test_load_app_does_not_warn_about_the_flow_new_bolt_app_gave(
    credentials_in_environment: Path, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.SLACK_BOLT_APP = f"{__name__}.build_app"
    with caplog.at_level(logging.WARNING, logger=request_url.__name__):
        app = request_url.configured_app()
        assert app is not None and app.oauth_flow is not None
    assert caplog.records == []


@pytest.mark.django_db(transaction=True)
def test_the_async_twin_keeps_our_stores_and_authorize(
    standin: SlackStandIn, install: Callable[..., Any], credentials_in_environment: Path
) -> None:
    app = request_url.new_async_bolt_app(process_before_response=True)
    seen: list[str | None] = []

    @app.event("app_mention")
    async def remember(context: AsyncBoltContext) -> None:
        seen.append(context.bot_token)

    workspace, body = install(rotation=True, auth_test=False)
    expiring_within_the_hour(workspace)
    for _ in range(2):
        assert run(app.async_dispatch(signed_request(mention("T0STANDIN1")))).status == 200
    assert seen == [body["access_token"]] * 2
    assert refresh_calls(standin) == []  # our rotation minutes, not Bolt's default
    assert len(standin.calls_to("auth.test")) == 1  # AsyncDjangoAuthorize: once per token
    assert list(credentials_in_environment.iterdir()) == []
    flow = app.oauth_flow  # ours, never served
    assert isinstance(flow.settings.installation_store, AsyncDjangoInstallationStore)
    assert isinstance(flow.settings.state_store, AsyncDjangoOAuthStateStore)


def signed_request(payload: dict[str, Any]) -> AsyncBoltRequest:
    body = json.dumps(payload)
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(slack_config().signing_secret).generate_signature(
        timestamp=timestamp, body=body
    )
    headers: dict[str, str | Sequence[str]] = {
        "content-type": "application/json",
        "x-slack-request-timestamp": str(timestamp),
        "x-slack-signature": str(signature),
    }
    return AsyncBoltRequest(body=body, headers=headers)


# --- the authorize's auth.test when Slack misbehaves ---------------------------------------------
# The authorize's auth.test is our own call: one deadline, a size cap, no redirect followed with
# the token. The listener never runs on a token that auth.test did not confirm.

AUTH_TEST_FAULTS: dict[str, Callable[[str], dict[str, Any]]] = {
    "redirect elsewhere": lambda elsewhere: {"redirect": f"{elsewhere}/api/auth.test"},
    "trickle": lambda _: {"trickle": 0.05},
}
DEADLINE_SECONDS = 1


@pytest.mark.parametrize("fault", list(AUTH_TEST_FAULTS))
@pytest.mark.django_db(transaction=True)
def test_the_authorize_asks_auth_test_with_a_deadline_and_follows_no_redirect(
    fault: str,
    standin: SlackStandIn,
    install: Callable[..., Any],
    bolt_app: Any,
    post_event: Callable[..., Any],
    elsewhere: tuple[str, list[bytes]],
    settings: Any,
) -> None:
    settings.SLACK_HTTP_TIMEOUT_SECONDS = DEADLINE_SECONDS
    install(auth_test=False)
    elsewhere_url, received = elsewhere
    standin.fail_next("auth.test", **AUTH_TEST_FAULTS[fault](elsewhere_url))
    started = time.monotonic()
    response = post_event(mention("T0STANDIN1"))
    assert time.monotonic() - started < DEADLINE_SECONDS + 2
    assert response.status_code != 200  # not acknowledged: Slack sends the event again
    assert received == [] and SEEN == []
    assert standin.calls_to("chat.postMessage") == []


@pytest.mark.parametrize("fault", list(AUTH_TEST_FAULTS))
@pytest.mark.django_db(transaction=True)
def test_the_async_authorize_asks_auth_test_the_same_way(
    fault: str,
    standin: SlackStandIn,
    install: Callable[..., Any],
    elsewhere: tuple[str, list[bytes]],
    settings: Any,
) -> None:
    settings.SLACK_HTTP_TIMEOUT_SECONDS = DEADLINE_SECONDS
    app = request_url.new_async_bolt_app(process_before_response=True)
    seen: list[str | None] = []

    @app.event("app_mention")
    async def remember(context: AsyncBoltContext) -> None:
        seen.append(context.bot_token)

    install(auth_test=False)
    elsewhere_url, received = elsewhere
    standin.fail_next("auth.test", **AUTH_TEST_FAULTS[fault](elsewhere_url))
    started = time.monotonic()
    response = run(app.async_dispatch(signed_request(mention("T0STANDIN1"))))
    assert time.monotonic() - started < DEADLINE_SECONDS + 2
    assert response.status != 200 and seen == []
    assert received == []
