"""A real slack_bolt AsyncApp on our async stores, against the stand-in (issue 6, item 3).

The async twin of test_bolt_app.py. Installs go through Bolt's AsyncOAuthFlow (our
AsyncDjangoOAuthStateStore, the stand-in's authorize page and oauth.v2.access, our
AsyncDjangoInstallationStore); events are signed like Slack's and dispatched with
``await app.async_dispatch(AsyncBoltRequest(...))``, as Bolt's async adapters do.

Coroutines run under ``asyncio.run`` in the test's thread, so Django's async ORM (and the
stores' ``sync_to_async`` writes) run in asgiref's executor thread on its own database
connection: hence ``transaction=True``, and each run closes that connection at the end so
PostgreSQL can drop the test database.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from installations.bolt.async_store import AsyncDjangoInstallationStore, AsyncDjangoOAuthStateStore
from installations.encryption.keyring import generate_key_entry
from installations.models import Installation, Workspace
from slackstandin import SlackStandIn
from tests.support.factories import install_through_standin
from tests.support.standin import known_token
from tests.support.store import MENTION, stored_envelope

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # slack_sdk 3.48's AsyncWebClient still passes aiohttp.BasicAuth for the oauth.v2.access call
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
]

COOKIE = "slack-app-oauth-state"
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, then close the connections the async ORM opened in asgiref's thread."""

    async def main() -> T:
        try:
            return await coro
        finally:
            await sync_to_async(connections.close_all)()

    return asyncio.run(main())


class AsyncBolt:
    """One AsyncApp wired to our async stores, and what its listener saw."""

    def __init__(
        self,
        standin: SlackStandIn,
        settings: Any,
        rotation_minutes: int,
        store: AsyncDjangoInstallationStore | None = None,
    ) -> None:
        self.standin = standin
        self.signing_secret = settings.SLACK_SIGNING_SECRET
        self.store = store or AsyncDjangoInstallationStore()
        self.app = AsyncApp(
            signing_secret=self.signing_secret,
            # Bolt builds its AsyncTokenRotator and per-request clients from this client
            client=AsyncWebClient(base_url=standin.api_url),
            installation_store=self.store,
            oauth_settings=AsyncOAuthSettings(
                client_id=settings.SLACK_CLIENT_ID,
                client_secret=settings.SLACK_CLIENT_SECRET,
                scopes=["commands", "chat:write"],
                redirect_uri=settings.SLACK_REDIRECT_URI,
                authorization_url=standin.authorize_url,
                install_page_rendering_enabled=False,
                installation_store=self.store,
                state_store=AsyncDjangoOAuthStateStore(),
                token_rotation_expiration_minutes=rotation_minutes,
            ),
            # the listener has finished when async_dispatch returns
            process_before_response=True,
        )
        self.seen: list[dict[str, Any]] = []

        @self.app.event("app_mention")
        async def remember(context: AsyncBoltContext, ack: Callable[[], Awaitable[None]]) -> None:
            await ack()
            self.seen.append({"bot_token": context.bot_token, "team_id": context.team_id})

    async def start_install(self) -> tuple[str, str]:
        """Bolt's install path: (authorize URL, state cookie value)."""
        flow = self.app.oauth_flow
        assert flow is not None
        started = await flow.handle_installation(AsyncBoltRequest(body="", query={}, headers={}))
        assert started.status == 302, started.body
        state = started.cookies()[0][COOKIE].value
        return started.headers["location"][0], state

    async def callback(self, redirect: str, state: str) -> BoltResponse:
        """Bolt's redirect path, with the browser's state cookie."""
        flow = self.app.oauth_flow
        assert flow is not None
        request = AsyncBoltRequest(
            body="", query=urlsplit(redirect).query, headers={"cookie": f"{COOKIE}={state}"}
        )
        return await flow.handle_callback(request)

    async def install(self, **choices: Any) -> BoltResponse:
        """Bolt's install path, the stand-in's Allow, Bolt's callback."""
        authorize_url, state = await self.start_install()
        return await self.callback(self.standin.approve(authorize_url, **choices), state)

    async def send(self, event: dict[str, Any], team_id: str) -> int:
        body = json.dumps(
            {
                "team_id": team_id,
                "api_app_id": "A0STANDIN",
                "event": event,
                "type": "event_callback",
                "authorizations": [
                    {
                        "enterprise_id": None,
                        "team_id": team_id,
                        "user_id": "U0STANDINBOT",
                        "is_bot": True,
                        "is_enterprise_install": False,
                    }
                ],
                "event_id": f"Ev{time.time_ns()}",
                "event_time": int(time.time()),
            }
        )
        timestamp = str(int(time.time()))
        signature = SignatureVerifier(self.signing_secret).generate_signature(
            timestamp=timestamp, body=body
        )
        request = AsyncBoltRequest(
            body=body,
            headers={
                "content-type": "application/json",
                "x-slack-request-timestamp": timestamp,
                "x-slack-signature": signature or "",
            },
        )
        return (await self.app.async_dispatch(request)).status


class UninstalledBeforeSave(AsyncDjangoInstallationStore):
    """Slack uninstalls the app (the stand-in revokes, then delivers app_uninstalled to the live
    server) after Bolt rotated the tokens and before its async_save lands."""

    def __init__(self, standin: SlackStandIn) -> None:
        super().__init__()
        self.standin = standin
        self.armed = False
        self.carried: list[Any] = []

    async def async_save(self, installation: Any) -> None:
        if self.armed:
            self.armed = False
            self.carried.append(installation)
            assert await sync_to_async(self.standin.uninstall)("T0STANDIN1") == (200, "ok")
        await super().async_save(installation)


@pytest.fixture
def bolt(standin: SlackStandIn, settings: Any) -> AsyncBolt:
    return AsyncBolt(standin, settings, rotation_minutes=120)


def test_async_oauth_flow_saves_through_our_async_stores(bolt: AsyncBolt) -> None:
    response = run(bolt.install())
    assert response.status == 200, response.body
    issued = bolt.standin.issued[-1]
    workspace = Workspace.objects.get(team_id=issued["team"]["id"])
    assert workspace.bot_token == issued["access_token"]
    assert issued["access_token"] not in stored_envelope(workspace, "bot_token")
    assert Installation.objects.get(workspace=workspace).source == "store"
    assert workspace.bot_id == "B0STANDIN"  # from Bolt's auth.test


def test_a_state_is_consumed_once(bolt: AsyncBolt) -> None:
    async def twice() -> tuple[int, int]:
        authorize_url, state = await bolt.start_install()
        redirect = bolt.standin.approve(authorize_url)
        first = await bolt.callback(redirect, state)
        return first.status, (await bolt.callback(redirect, state)).status

    assert run(twice()) == (200, 401)
    # our async_consume refused the replay: Bolt never tried the code again
    assert len(bolt.standin.calls_to("oauth.v2.access")) == 1
    assert Installation.objects.count() == 1


def test_signed_event_is_authorized_with_the_installed_bot_token(bolt: AsyncBolt) -> None:
    run(bolt.install())
    bot_token = bolt.standin.issued[-1]["access_token"]
    before = len(bolt.standin.calls_to("auth.test"))  # Bolt's install flow calls it too
    assert run(bolt.send(MENTION, team_id="T0STANDIN1")) == 200
    assert bolt.seen == [{"bot_token": bot_token, "team_id": "T0STANDIN1"}]
    during = bolt.standin.calls_to("auth.test")[before:]
    assert [call.token for call in during] == [bot_token]


def test_a_workspace_installed_by_our_own_flow_is_found_by_the_async_store(
    bolt: AsyncBolt,
) -> None:
    workspace, body = install_through_standin(bolt.standin)  # persistence.save_installation
    assert run(bolt.send(MENTION, team_id=workspace.team_id)) == 200
    assert bolt.seen == [{"bot_token": body["access_token"], "team_id": workspace.team_id}]


def test_event_for_an_unknown_workspace_is_not_authorized(bolt: AsyncBolt) -> None:
    run(bolt.install())
    assert run(bolt.send(MENTION, team_id="T0UNKNOWN")) == 200  # Bolt acks, no listener runs
    assert bolt.seen == []


def test_token_near_expiry_is_refreshed_by_bolt_and_saved_encrypted(
    standin: SlackStandIn, settings: Any
) -> None:
    # tokens live 12 h; refreshing when under 13 h left makes the next request rotate
    bolt = AsyncBolt(standin, settings, rotation_minutes=13 * 60)
    run(bolt.install(rotation=True))
    first = standin.issued[-1]
    assert first["access_token"].startswith("xoxe.xoxb-")

    assert run(bolt.send(MENTION, team_id="T0STANDIN1")) == 200
    refreshes = [
        c
        for c in standin.calls_to("oauth.v2.access")
        if c.params.get("grant_type") == "refresh_token"
    ]
    assert len(refreshes) == 1
    assert refreshes[0].params["refresh_token"] == first["refresh_token"]
    workspace = Workspace.objects.get(team_id="T0STANDIN1")
    assert workspace.bot_token != first["access_token"]
    assert workspace.bot_refresh_token != first["refresh_token"]
    assert bolt.seen[-1]["bot_token"] == workspace.bot_token  # authorized with the new token
    assert workspace.bot_token is not None
    assert standin.token_info(workspace.bot_token) is not None
    envelope = stored_envelope(workspace, "bot_token")
    assert envelope.startswith("v1.") and workspace.bot_token not in envelope
    assert Installation.objects.filter(workspace=workspace).count() == 1  # re-saved in place
    found = run(bolt.store.async_find_bot(enterprise_id=None, team_id="T0STANDIN1"))
    assert found is not None and found.bot_token == workspace.bot_token


def test_revocation_listeners_mark_our_rows(bolt: AsyncBolt) -> None:
    bolt.app.enable_token_revocation_listeners()
    run(bolt.install())
    revoked = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["U0STANDINBOT"]}}
    assert run(bolt.send(revoked, team_id="T0STANDIN1")) == 200
    workspace = Workspace.objects.get(team_id="T0STANDIN1")
    assert workspace.bot_revoked_at is not None and workspace.bot_token is None
    assert run(bolt.store.async_find_bot(enterprise_id=None, team_id="T0STANDIN1")) is None

    assert run(bolt.send({"type": "app_uninstalled"}, team_id="T0STANDIN1")) == 200
    workspace.refresh_from_db()
    assert workspace.uninstalled_at is not None
    lookup = bolt.store.async_find_installation(enterprise_id=None, team_id="T0STANDIN1")
    assert run(lookup) is None
    assert Installation.objects.filter(workspace=workspace).exists()  # history stays


def test_an_uninstall_between_rotation_and_async_save_stands(
    standin_with_events: SlackStandIn, settings: Any
) -> None:
    store = UninstalledBeforeSave(standin_with_events)
    bolt = AsyncBolt(standin_with_events, settings, rotation_minutes=13 * 60, store=store)
    run(bolt.install(rotation=True))
    store.armed = True

    run(bolt.send(MENTION, team_id="T0STANDIN1"))

    [carried] = store.carried
    assert known_token(standin_with_events, carried.bot_token)["revoked"] is True
    workspace = Workspace.objects.get(team_id="T0STANDIN1")
    assert workspace.uninstalled_at is not None and workspace.bot_revoked_at is not None
    assert workspace.bot_token is None and workspace.bot_refresh_token is None
    assert run(store.async_find_bot(enterprise_id=None, team_id="T0STANDIN1")) is None


def test_an_unreadable_token_fails_the_request_and_changes_nothing(
    bolt: AsyncBolt, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    run(bolt.install())
    before = list(Workspace.objects.values_list("updated_at", "health", "bot_revoked_at"))
    settings.TOKEN_ENCRYPTION_KEYS = generate_key_entry("other")  # this process lacks "test1"
    caplog.set_level(logging.ERROR, logger="installations")

    # an exception from authorize is Bolt's 500 (Slack retries the event); None would have
    # been "not installed", acked and lost
    assert run(bolt.send(MENTION, team_id="T0STANDIN1")) == 500
    assert bolt.seen == []
    assert list(Workspace.objects.values_list("updated_at", "health", "bot_revoked_at")) == before
    assert "needs key id test1; configured: other" in caplog.text
