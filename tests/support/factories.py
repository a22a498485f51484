"""Test data, built in one place: fake tokens, slack_sdk Installations, saved workspaces, rows.

Every suite builds its data here, so a field added to the models or to slack_sdk's Installation
is added once. Tokens are generated at run time and obviously fake (``xoxb-test-...``); nothing
secret-looking is written into the repository. Two sets of ids are in use:

- ``STANDIN_IDS``: what the local Slack stand-in issues (slackstandin/state.py), so a workspace
  saved without HTTP looks like one installed through the stand-in;
- ``STORE_IDS``: the Bolt store suites' own, compared against slack_sdk's reference stores.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from slack_sdk import WebClient
from slack_sdk.oauth import AuthorizeUrlGenerator
from slack_sdk.oauth.installation_store import Installation as SdkInstallation

from installations.conf import slack_config
from installations.lifecycle.saving import save_installation
from installations.models import Workspace

STANDIN_IDS: dict[str, Any] = {
    "app_id": "A0STANDIN",
    "team_id": "T0STANDIN1",
    "team_name": "Stand-in Workspace",
    "bot_id": "B0STANDIN",
    "bot_user_id": "U0STANDINBOT",
    "user_id": "U0STANDINUSR",
}
STORE_IDS: dict[str, Any] = {
    "app_id": "A0APP",
    "enterprise_id": None,
    "team_id": "T0TEAM1",
    "team_name": "Team One",
    "bot_id": "B0BOT",
    "bot_user_id": "U0BOTUSER",
    "user_id": "U0INSTALL1",
}
# The store suites' clock: installs are placed minutes after T0, so "latest" is never a tie.
T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def fake_token(prefix: str = "xoxb") -> str:
    """A runtime-generated fake token (or webhook secret part) with a recognisable prefix."""
    return f"{prefix}-test-{secrets.token_hex(12)}"


def fake_webhook_url() -> str:
    return "https://hooks.example.invalid/" + secrets.token_hex(8)


def sdk_installation(**overrides: Any) -> SdkInstallation:
    """slack_sdk's Installation of a workspace install with fake bot and user tokens and the
    stand-in's ids; keyword overrides win (``None`` included)."""
    values: dict[str, Any] = {
        **STANDIN_IDS,
        "bot_token": fake_token("xoxb"),
        "bot_scopes": "commands,chat:write",
        "user_token": fake_token("xoxp"),
        "user_scopes": "search:read",
        "is_enterprise_install": False,
        "token_type": "bot",
    }
    values.update(overrides)
    return SdkInstallation(**values)


def store_installation(minutes: float = 0, **overrides: Any) -> SdkInstallation:
    """The store suites' install (``STORE_IDS``, by U0INSTALL1), ``minutes`` after T0."""
    installed_at = (T0 + timedelta(minutes=minutes)).timestamp()
    return sdk_installation(**{**STORE_IDS, "installed_at": installed_at, **overrides})


def save(data: SdkInstallation, *, source: str = "oauth", actor: str = "test") -> Workspace:
    """Save through the app's own path (lifecycle.saving), as a completed flow does."""
    workspace, _ = save_installation(
        data, client_id=slack_config().client_id, source=source, actor=actor
    )
    return workspace


def saved_workspace(**overrides: Any) -> Workspace:
    """A workspace saved through lifecycle.saving, no HTTP: ``sdk_installation(**overrides)``
    with an incoming webhook too."""
    return save(sdk_installation(**{"incoming_webhook_url": fake_webhook_url(), **overrides}))


def workspace_row(**fields: Any) -> Workspace:
    """A bare Workspace row (``objects.create``, no flow, no history) with a fresh team id."""
    values: dict[str, Any] = {
        "client_id": slack_config().client_id,
        "team_id": "T" + secrets.token_hex(4).upper(),
    }
    values.update(fields)
    return Workspace.objects.create(**values)


# --- through the stand-in, over real HTTP ------------------------------------------------------


def installation_from_oauth(
    body: dict[str, Any], auth_test: dict[str, Any] | None = None
) -> SdkInstallation:
    """oauth.v2.access's answer as slack_sdk's Installation, as Bolt's run_installation builds
    it; ``auth_test`` (the bot token's auth.test answer) adds the bot id and the org's url."""
    user = body.get("authed_user") or {}
    team = body.get("team") or {}
    enterprise = body.get("enterprise") or {}
    hook = body.get("incoming_webhook") or {}
    tested = auth_test or {}
    return SdkInstallation(
        app_id=body.get("app_id"),
        enterprise_id=enterprise.get("id"),
        enterprise_name=enterprise.get("name"),
        enterprise_url=tested.get("url") if body.get("is_enterprise_install") else None,
        team_id=team.get("id"),
        team_name=team.get("name"),
        bot_token=body.get("access_token"),
        bot_id=tested.get("bot_id"),
        bot_user_id=body.get("bot_user_id"),
        bot_scopes=body.get("scope") or "",
        bot_refresh_token=body.get("refresh_token"),
        bot_token_expires_in=body.get("expires_in"),
        user_id=user["id"],  # oauth.v2.access always names the installing user
        user_token=user.get("access_token"),
        user_scopes=user.get("scope") or "",
        user_refresh_token=user.get("refresh_token"),
        user_token_expires_in=user.get("expires_in"),
        incoming_webhook_url=hook.get("url"),
        incoming_webhook_channel=hook.get("channel"),
        incoming_webhook_channel_id=hook.get("channel_id"),
        incoming_webhook_configuration_url=hook.get("configuration_url"),
        is_enterprise_install=body.get("is_enterprise_install"),
        token_type=body.get("token_type"),
    )


def install_through_standin(
    standin: Any,
    *,
    scopes: Sequence[str] = ("commands", "chat:write"),
    user_scopes: Sequence[str] | None = None,
    auth_test: bool = True,
    installed_at: datetime | None = None,
    **choices: Any,
) -> tuple[Workspace, dict[str, Any]]:
    """One completed install flow against the stand-in, the way Bolt's run_installation does
    it: approve on its authorize page (``choices``), oauth.v2.access with the code, auth.test
    for the bot id (``auth_test=False``: none, for tests that count the calls Slack receives),
    then lifecycle.saving. Returns the row and Slack's answer (whose tokens are the stand-in's
    runtime-generated fakes)."""
    config = slack_config()
    # Slack issues a user token only for user scopes, a webhook only for its scope.
    if not user_scopes and choices.get("user_token"):
        user_scopes = ("search:read",)
    if choices.get("webhook") and "incoming-webhook" not in scopes:
        scopes = (*scopes, "incoming-webhook")
    url = AuthorizeUrlGenerator(
        client_id=config.client_id,
        redirect_uri=config.redirect_uri,
        scopes=list(scopes),
        user_scopes=list(user_scopes) if user_scopes else None,
        authorization_url=config.authorize_url,
    ).generate(state=secrets.token_urlsafe(16))
    redirect = standin.approve(url, **choices)
    code = parse_qs(urlsplit(redirect).query)["code"][0]
    client = WebClient(base_url=config.api_url, retry_handlers=[])
    body = client.oauth_v2_access(
        client_id=config.client_id,
        client_secret=config.client_secret,
        code=code,
        redirect_uri=config.redirect_uri,
    ).data
    assert isinstance(body, dict)
    tested: Any = {}
    if auth_test and body.get("access_token"):
        tested = client.auth_test(token=body["access_token"]).data
    assert isinstance(tested, dict)
    installation = installation_from_oauth(body, tested)
    if installed_at is not None:  # a flow that started then (one finishing late, say)
        installation.installed_at = installed_at.timestamp()
    return save(installation), body
