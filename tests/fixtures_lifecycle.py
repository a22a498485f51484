"""Fixtures for the lifecycle tests (kept apart so parallel work does not collide).

Workspaces are installed the way Bolt's run_installation does it, over real HTTP against the
stand-in: approve on its authorize page, oauth.v2.access with the code, auth.test for bot_id,
then persistence.save_installation. Tokens are the stand-in's runtime-generated fakes.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from slack_sdk import WebClient
from slack_sdk.oauth import AuthorizeUrlGenerator
from slack_sdk.oauth.installation_store import Installation as SdkInstallation
from slack_sdk.signature import SignatureVerifier

from installations.conf import slack_config
from installations.encryption.fields import Sealed
from installations.lifecycle import saving as persistence
from installations.models import Installation, LifecycleEvent, Workspace


def install_through_standin(standin: Any, **choices: Any) -> tuple[Workspace, dict[str, Any]]:
    """One completed install flow against the stand-in; returns the row and Slack's answer."""
    config = slack_config()
    url = AuthorizeUrlGenerator(
        client_id=config.client_id,
        redirect_uri=config.redirect_uri,
        scopes=["commands", "chat:write"],
        user_scopes=["search:read"] if choices.get("user_token") else None,
        authorization_url=config.authorize_url,
    ).generate(state=secrets.token_urlsafe(16))
    redirect = standin.approve(url, **choices)
    code = redirect.split("code=", 1)[1].split("&", 1)[0]
    client = WebClient(base_url=config.api_url, retry_handlers=[])
    body = client.oauth_v2_access(
        client_id=config.client_id,
        client_secret=config.client_secret,
        code=code,
        redirect_uri=config.redirect_uri,
    ).data
    bot = client.auth_test(token=body["access_token"]).data
    user = body.get("authed_user") or {}
    team, enterprise = body.get("team") or {}, body.get("enterprise") or {}
    data = SdkInstallation(
        app_id=body.get("app_id"),
        enterprise_id=enterprise.get("id"),
        enterprise_name=enterprise.get("name"),
        enterprise_url=bot.get("url") if body.get("is_enterprise_install") else None,
        team_id=team.get("id"),
        team_name=team.get("name"),
        bot_token=body["access_token"],
        bot_id=bot.get("bot_id"),
        bot_user_id=body.get("bot_user_id"),
        bot_scopes=body.get("scope", ""),
        bot_refresh_token=body.get("refresh_token"),
        bot_token_expires_in=body.get("expires_in"),
        user_id=user.get("id"),
        user_token=user.get("access_token"),
        user_scopes=user.get("scope", ""),
        user_refresh_token=user.get("refresh_token"),
        user_token_expires_in=user.get("expires_in"),
        incoming_webhook_url=(body.get("incoming_webhook") or {}).get("url"),
        is_enterprise_install=body.get("is_enterprise_install"),
        token_type=body.get("token_type"),
    )
    workspace, _ = persistence.save_installation(
        data, client_id=config.client_id, source="oauth", actor="test"
    )
    return workspace, body


@pytest.fixture
def install(standin: Any) -> Callable[..., tuple[Workspace, dict[str, Any]]]:
    """install(**approve_choices) -> (Workspace, oauth.v2.access body), via the stand-in."""
    return lambda **choices: install_through_standin(standin, **choices)


def sign(body: bytes, *, timestamp: int | None = None, secret: str | None = None) -> dict[str, str]:
    """Slack's signature headers for ``body`` (Django test-client header names)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    verifier = SignatureVerifier(secret or slack_config().signing_secret)
    return {
        "HTTP_X_SLACK_REQUEST_TIMESTAMP": ts,
        "HTTP_X_SLACK_SIGNATURE": verifier.generate_signature(timestamp=ts, body=body) or "",
    }


def envelope(event: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """An event_callback as Slack wraps it (docs/slack-protocol.md §6)."""
    payload = {
        "token": secrets.token_hex(6),  # the deprecated verification token proves nothing
        "team_id": "T0STANDIN1",
        "api_app_id": "A0STANDIN",
        "event": event,
        "type": "event_callback",
        "event_id": "Ev" + secrets.token_hex(5).upper(),
        "event_time": int(time.time()),
    }
    payload.update(overrides)
    return payload


@pytest.fixture
def post_event(client: Client) -> Callable[..., Any]:
    """post_event(payload | bytes, *, timestamp=None, secret=None, headers=None) -> response."""

    def post(
        payload: dict[str, Any] | bytes,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
        signed: bool = True,
    ) -> Any:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        extra = sign(body, timestamp=timestamp, secret=secret) if signed else {}
        extra.update(headers or {})
        return client.post("/slack/events", data=body, content_type="application/json", **extra)

    return post


def fake(prefix: str) -> str:
    """A runtime-generated fake token (never a real-looking one in the repository)."""
    return f"{prefix}-test-{secrets.token_hex(10)}"


def save_workspace(**overrides: Any) -> Workspace:
    """A workspace saved through persistence with fake tokens; keyword overrides win."""
    values: dict[str, Any] = {
        "app_id": "A0STANDIN",
        "team_id": "T0STANDIN1",
        "team_name": "Stand-in Workspace",
        "bot_token": fake("xoxb"),
        "bot_id": "B0STANDIN",
        "bot_user_id": "U0STANDINBOT",
        "bot_scopes": "commands,chat:write",
        "user_id": "U0STANDINUSR",
        "user_token": fake("xoxp"),
        "user_scopes": "search:read",
        "incoming_webhook_url": "https://example.invalid/hooks/" + secrets.token_hex(8),
        "token_type": "bot",
    }
    values.update(overrides)
    workspace, _ = persistence.save_installation(
        SdkInstallation(**values), client_id=slack_config().client_id, source="oauth", actor="test"
    )
    return workspace


@pytest.fixture
def saved_workspace(db: Any) -> Callable[..., Workspace]:
    """saved_workspace(**Installation fields) -> Workspace, with fake tokens, no HTTP."""
    return save_workspace


# --- token rotation helpers ----------------------------------------------------------------------


def refresh_calls(standin: Any) -> list[str]:
    """The refresh tokens the stand-in received, in order."""
    return [
        c.params["refresh_token"]
        for c in standin.calls_to("oauth.v2.access")
        if c.params.get("grant_type") == "refresh_token"
    ]


def make_due(workspace: Workspace) -> None:
    """Bot and user tokens of ``workspace`` expire in five minutes."""
    soon = timezone.now() + timedelta(minutes=5)
    Workspace.objects.filter(pk=workspace.pk).update(bot_token_expires_at=soon)
    Installation.objects.filter(workspace=workspace).update(user_token_expires_at=soon)


def run_at_once(workers: int, job: Callable[[], Any]) -> list[Any]:
    """Start ``workers`` threads together; each closes its own DB connection."""
    barrier, results, errors = threading.Barrier(workers), [], []

    def run() -> None:
        try:
            barrier.wait()
            results.append(job())
        except Exception as exc:  # surfaced below, with the thread's traceback lost only here
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


WORKSPACE_STATE = (
    "bot_token", "bot_refresh_token", "bot_token_expires_at", "bot_refresh_claimed_until",
    "bot_revoked_at", "uninstalled_at", "refresh_failed_at", "health", "verify_failures",
    "last_verified_at", "last_error", "last_error_at", "bot_scopes",
)  # fmt: skip
INSTALLATION_STATE = (
    "user_token", "user_refresh_token", "user_token_expires_at", "user_refresh_claimed_until",
    "user_token_revoked_at", "deleted_at", "is_current", "incoming_webhook_url",
)  # fmt: skip


def stored_state() -> dict[str, Any]:
    """Every stored fact a token path could change, envelopes as stored (nothing decrypted)."""

    def raw(values: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(v.envelope if isinstance(v, Sealed) else v for v in values)

    return {
        "workspaces": {
            row[0]: raw(row[1:]) for row in Workspace.objects.values_list("pk", *WORKSPACE_STATE)
        },
        "installations": {
            row[0]: raw(row[1:])
            for row in Installation.objects.values_list("pk", *INSTALLATION_STATE)
        },
        "events": list(LifecycleEvent.objects.order_by("pk").values_list("kind", "detail")),
    }
