"""A real slack_bolt.App: a revocation lands between Bolt's token rotation and its save.

Bolt's authorize rotates near-expiry tokens at the stand-in, then saves the installation it read
earlier with the new tokens. The store below lets Slack's side happen right then: the stand-in
revokes the tokens (the rotated ones included) and delivers the signed event over real HTTP to
the live server's /slack/events, which applies it, and only then does Bolt's save reach our store.
The save must leave the revocation standing: Slack has killed the tokens it carries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.installation_store import Installation as SdkInstallation

from installations.bolt.store import DjangoInstallationStore
from installations.models import Installation, Workspace
from slackstandin import SlackStandIn
from slackstandin.state import BOT_USER_ID, INSTALLER_USER_ID
from tests.bolt.test_bolt_app import Bolt
from tests.support.standin import known_token

pytestmark = pytest.mark.django_db(transaction=True)  # the live server applies the event

TEAM = "T0STANDIN1"
# the installer mentions the app, so Bolt's authorize rotates (and carries) their user token too
MENTION = {"type": "app_mention", "user": INSTALLER_USER_ID, "text": "hi", "channel": "C0GENERAL"}


class RevocationBeforeSave(DjangoInstallationStore):
    """Runs ``before_save`` once, with what Bolt is about to save, before the save lands."""

    def __init__(self) -> None:
        super().__init__()
        self.before_save: Callable[[Any], None] | None = None
        self.carried: list[Any] = []

    def _revocation_lands(self, carried: Any) -> None:
        hook, self.before_save = self.before_save, None
        if hook is not None:
            self.carried.append(carried)
            hook(carried)

    def save(self, installation: SdkInstallation) -> None:
        self._revocation_lands(installation)
        super().save(installation)

    def save_bot(self, bot: Bot) -> None:
        self._revocation_lands(bot)
        super().save_bot(bot)


def uninstall(standin: SlackStandIn) -> Callable[[Any], None]:
    def hook(carried: Any) -> None:
        assert standin.uninstall(TEAM) == (200, "ok")

    return hook


def tokens_revoked(standin: SlackStandIn, *, bot: bool) -> Callable[[Any], None]:
    """Slack revokes the (rotated) tokens, then says so with tokens_revoked."""

    def hook(carried: Any) -> None:
        standin.revoke_token(carried.bot_token if bot else carried.user_token)
        tokens = {"oauth": [] if bot else [INSTALLER_USER_ID], "bot": [BOT_USER_ID] if bot else []}
        event = {"type": "tokens_revoked", "tokens": tokens}
        assert standin.send_event(event, team_id=TEAM) == (200, "ok")

    return hook


def rotating_bolt(standin: SlackStandIn, settings: Any, *, bot_only: bool) -> Bolt:
    # tokens live 12 h; refreshing when under 13 h left makes the next request rotate
    bolt = Bolt(
        standin,
        settings,
        rotation_minutes=13 * 60,
        store=RevocationBeforeSave(),
        bot_only=bot_only,
        scopes=("commands", "chat:write") if bot_only else ("commands", "incoming-webhook"),
        user_scopes=() if bot_only else ("search:read",),
    )
    response = bolt.install(rotation=True, user_token=not bot_only, webhook=not bot_only)
    assert response.status_code == 200, response.content
    return bolt


def store_of(bolt: Bolt) -> RevocationBeforeSave:
    """The recording store ``rotating_bolt`` gave ``bolt``."""
    assert isinstance(bolt.store, RevocationBeforeSave)
    return bolt.store


def assert_not_stored(carried: Any, *names: str) -> None:
    """None of the carried tokens is in the database, decrypted or not."""
    stored = [
        value
        for workspace in Workspace.objects.all()
        for value in (workspace.bot_token, workspace.bot_refresh_token)
    ] + [
        value
        for row in Installation.objects.all()
        for value in (row.user_token, row.user_refresh_token)
    ]
    for name in names:
        assert getattr(carried, name) is not None
        assert getattr(carried, name) not in stored, name


@pytest.mark.parametrize("bot_only", [False, True], ids=["save", "save_bot"])
def test_uninstall_between_rotation_and_save_stands(
    standin_with_events: SlackStandIn, settings: Any, bot_only: bool
) -> None:
    bolt = rotating_bolt(standin_with_events, settings, bot_only=bot_only)
    store_of(bolt).before_save = uninstall(standin_with_events)

    bolt.send_full(MENTION, team_id=TEAM)

    [carried] = store_of(bolt).carried
    assert known_token(standin_with_events, carried.bot_token)["revoked"] is True
    workspace = Workspace.objects.get(team_id=TEAM)
    assert workspace.uninstalled_at is not None and workspace.bot_revoked_at is not None
    assert workspace.bot_token is None and workspace.bot_refresh_token is None
    assert_not_stored(carried, "bot_token", "bot_refresh_token")
    assert bolt.store.find_bot(enterprise_id=None, team_id=TEAM) is None
    assert bolt.store.find_installation(enterprise_id=None, team_id=TEAM) is None
    if not bot_only:
        assert_not_stored(carried, "user_token", "user_refresh_token")
        row = Installation.objects.get(workspace=workspace)
        assert row.deleted_at is not None and row.user_token_revoked_at is not None
        assert carried.incoming_webhook_url is not None and row.incoming_webhook_url is None


@pytest.mark.parametrize("bot_only", [False, True], ids=["save", "save_bot"])
def test_bot_revocation_between_rotation_and_save_stands(
    standin_with_events: SlackStandIn, settings: Any, bot_only: bool
) -> None:
    bolt = rotating_bolt(standin_with_events, settings, bot_only=bot_only)
    store_of(bolt).before_save = tokens_revoked(standin_with_events, bot=True)

    bolt.send_full(MENTION, team_id=TEAM)

    [carried] = store_of(bolt).carried
    workspace = Workspace.objects.get(team_id=TEAM)
    assert workspace.bot_revoked_at is not None and workspace.uninstalled_at is None
    assert workspace.bot_token is None
    assert_not_stored(carried, "bot_token", "bot_refresh_token")
    if not bot_only:  # the user's token was not revoked: its rotation lands
        row = Installation.objects.get(workspace=workspace)
        assert row.user_token == carried.user_token
        assert row.incoming_webhook_url == carried.incoming_webhook_url


def test_user_revocation_between_rotation_and_save_stands(
    standin_with_events: SlackStandIn, settings: Any
) -> None:
    bolt = rotating_bolt(standin_with_events, settings, bot_only=False)
    store_of(bolt).before_save = tokens_revoked(standin_with_events, bot=False)

    assert bolt.send_full(MENTION, team_id=TEAM).status_code == 200

    [carried] = store_of(bolt).carried
    workspace = Workspace.objects.get(team_id=TEAM)
    row = Installation.objects.get(workspace=workspace)
    assert row.user_token_revoked_at is not None and row.user_token is None
    assert_not_stored(carried, "user_token", "user_refresh_token")
    assert workspace.bot_token == carried.bot_token  # the bot was not revoked: it rotates
    assert (
        bolt.store.find_installation(enterprise_id=None, team_id=TEAM, user_id=INSTALLER_USER_ID)
        is None
    )
