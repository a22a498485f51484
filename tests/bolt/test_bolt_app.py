"""A real slack_bolt.App behind Bolt's Django adapter, on our stores, against the stand-in.

Installs go through Bolt's own OAuth flow (its /slack/install and /slack/oauth_redirect handlers,
our state store, the stand-in's authorize page and oauth.v2.access); events are signed like
Slack's. Requests are driven through SlackRequestHandler with Django's RequestFactory: nothing
is added to the product's URLconf.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from slack_bolt import App, BoltContext
from slack_bolt.adapter.django import SlackRequestHandler
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from installations.bolt.store import DjangoInstallationStore, DjangoOAuthStateStore
from installations.models import Installation, Workspace
from slackstandin import SlackStandIn
from tests.support.store import MENTION, stored_envelope

pytestmark = pytest.mark.django_db

COOKIE = "slack-app-oauth-state"


class Bolt:
    """One Bolt app wired to our stores, its Django handler, and what its listener saw."""

    def __init__(
        self,
        standin: SlackStandIn,
        settings: Any,
        rotation_minutes: int,
        *,
        store: DjangoInstallationStore | None = None,
        bot_only: bool = False,
        scopes: tuple[str, ...] = ("commands", "chat:write"),
        user_scopes: tuple[str, ...] = (),
    ) -> None:
        """``scopes`` / ``user_scopes``: what the app asks for; the stand-in, like Slack, issues
        a user token only for user scopes and a webhook only for ``incoming-webhook``."""
        self.standin = standin
        self.signing_secret = settings.SLACK_SIGNING_SECRET
        self.store = store or DjangoInstallationStore()
        self.app = App(
            signing_secret=self.signing_secret,
            # Bolt builds its TokenRotator and per-request clients from this client's base_url
            client=WebClient(base_url=standin.api_url),
            installation_store=self.store,
            # find_bot / save_bot only, as bot-only apps run Bolt's authorize
            installation_store_bot_only=bot_only,
            oauth_settings=OAuthSettings(
                client_id=settings.SLACK_CLIENT_ID,
                client_secret=settings.SLACK_CLIENT_SECRET,
                scopes=list(scopes),
                user_scopes=list(user_scopes),
                redirect_uri=settings.SLACK_REDIRECT_URI,
                authorization_url=standin.authorize_url,
                install_page_rendering_enabled=False,
                installation_store=self.store,
                state_store=DjangoOAuthStateStore(),
                token_rotation_expiration_minutes=rotation_minutes,
                installation_store_bot_only=bot_only,
            ),
            # listeners run in the request's thread, on the test's database connection
            process_before_response=True,
        )
        self.seen: list[dict[str, Any]] = []

        @self.app.event("app_mention")
        def remember(context: BoltContext, ack: Callable[[], None]) -> None:
            ack()
            self.seen.append({"bot_token": context.bot_token, "team_id": context.team_id})

        self.handler = SlackRequestHandler(self.app)
        self.rf = RequestFactory()

    def install(self, **choices: Any) -> HttpResponse:
        """Bolt's install path, the stand-in's Allow, Bolt's callback (with the state cookie)."""
        started = self.handler.handle(self.rf.get("/slack/install"))
        assert started.status_code == 302, started.content
        state = started.cookies[COOKIE].value
        redirect = urlsplit(self.standin.approve(started["Location"], **choices))
        query = {k: v[0] for k, v in parse_qs(redirect.query).items()}
        request = self.rf.get("/slack/oauth_redirect", query, HTTP_COOKIE=f"{COOKIE}={state}")
        return self.handler.handle(request)

    def send(self, event: dict[str, Any], team_id: str, enterprise_id: str | None = None) -> int:
        return self.send_full(event, team_id, enterprise_id).status_code

    def send_full(
        self, event: dict[str, Any], team_id: str, enterprise_id: str | None = None
    ) -> HttpResponse:
        """A signed event_callback through Bolt's Django handler; Bolt's whole response."""
        body = json.dumps(
            {
                "team_id": team_id,
                "enterprise_id": enterprise_id,
                "api_app_id": "A0STANDIN",
                "event": event,
                "type": "event_callback",
                "authorizations": [
                    {
                        "enterprise_id": enterprise_id,
                        "team_id": team_id,
                        "user_id": "U0STANDINBOT",
                        "is_bot": True,
                        "is_enterprise_install": False,
                    }
                ],
                "event_id": f"Ev{time.time_ns()}",
                "event_time": int(time.time()),
            }
        ).encode()
        timestamp = str(int(time.time()))
        signature = SignatureVerifier(self.signing_secret).generate_signature(
            timestamp=timestamp, body=body
        )
        request = self.rf.post(
            "/slack/events",
            body,
            content_type="application/json",
            HTTP_X_SLACK_REQUEST_TIMESTAMP=timestamp,
            HTTP_X_SLACK_SIGNATURE=signature,
        )
        return self.handler.handle(request)


@pytest.fixture
def bolt(standin: SlackStandIn, settings: Any) -> Bolt:
    return Bolt(standin, settings, rotation_minutes=120)


def test_bolt_oauth_flow_saves_through_our_stores(bolt: Bolt) -> None:
    response = bolt.install()
    assert response.status_code == 200, response.content
    issued = bolt.standin.issued[-1]
    workspace = Workspace.objects.get(team_id=issued["team"]["id"])
    assert workspace.bot_token == issued["access_token"]
    assert issued["access_token"] not in stored_envelope(workspace, "bot_token")
    assert Installation.objects.get(workspace=workspace).source == "store"
    assert workspace.bot_id == "B0STANDIN"  # from Bolt's auth.test


def test_signed_event_is_authorized_with_the_installed_bot_token(bolt: Bolt) -> None:
    bolt.install()
    bot_token = bolt.standin.issued[-1]["access_token"]
    before = len(bolt.standin.calls_to("auth.test"))  # Bolt's install flow calls it too
    assert bolt.send(MENTION, team_id="T0STANDIN1") == 200
    assert bolt.seen == [{"bot_token": bot_token, "team_id": "T0STANDIN1"}]
    during = bolt.standin.calls_to("auth.test")[before:]
    assert [call.token for call in during] == [bot_token]


def test_event_for_an_unknown_workspace_is_not_authorized(bolt: Bolt) -> None:
    bolt.install()
    assert bolt.send(MENTION, team_id="T0UNKNOWN") == 200  # Bolt acks, the listener never runs
    assert bolt.seen == []


def test_token_near_expiry_is_refreshed_by_bolt_and_saved_encrypted(
    standin: SlackStandIn, settings: Any
) -> None:
    # tokens live 12 h; refreshing when under 13 h left makes the next request rotate
    bolt = Bolt(standin, settings, rotation_minutes=13 * 60)
    bolt.install(rotation=True)
    first = standin.issued[-1]
    assert first["access_token"].startswith("xoxe.xoxb-")

    assert bolt.send(MENTION, team_id="T0STANDIN1") == 200
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


def test_revocation_listeners_mark_our_rows(bolt: Bolt) -> None:
    bolt.app.enable_token_revocation_listeners()
    bolt.install()
    revoked = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["U0STANDINBOT"]}}
    assert bolt.send(revoked, team_id="T0STANDIN1") == 200
    workspace = Workspace.objects.get(team_id="T0STANDIN1")
    assert workspace.bot_revoked_at is not None and workspace.bot_token is None
    assert bolt.store.find_bot(enterprise_id=None, team_id="T0STANDIN1") is None

    assert bolt.send({"type": "app_uninstalled"}, team_id="T0STANDIN1") == 200
    workspace.refresh_from_db()
    assert workspace.uninstalled_at is not None
    assert bolt.store.find_installation(enterprise_id=None, team_id="T0STANDIN1") is None
    assert Installation.objects.filter(workspace=workspace).exists()  # history stays
