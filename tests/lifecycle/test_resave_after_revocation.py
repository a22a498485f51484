"""Bolt's re-save after a token rotation never undoes a revocation that landed in between.

Bolt's authorize reads an installation, rotates its tokens, and saves what it read with the new
tokens (slack_bolt/authorization/authorize.py). Every revocation this project records (Slack's
``app_uninstalled`` / ``tokens_revoked`` through slack_events.handle_event, Bolt's ``delete_*``,
a staff revoke) is applied between that read and that save, for every way the save arrives
(``save``, ``save_bot``, and their async twins); what the revocation erased stays erased, its
marks stay set, and what it did not touch still takes the rotated tokens.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.installation_store import Installation as SdkInstallation

from installations.bolt.async_store import AsyncDjangoInstallationStore
from installations.bolt.store import DjangoInstallationStore
from installations.lifecycle import revocation
from installations.lifecycle import saving as persistence
from installations.lifecycle.slack_events import handle_event
from installations.models import Installation, Workspace
from slackstandin.events import envelope
from tests.support.factories import fake_token, store_installation
from tests.support.store import found_bot, found_installation

pytestmark = pytest.mark.django_db

CLIENT = "1111.2222"  # the test settings' SLACK_CLIENT_ID: handle_event finds our rows
TEAM: dict[str, Any] = {"enterprise_id": None, "team_id": "T0TEAM1"}
INSTALLER = "U0INSTALL1"


def slack_event(event: dict[str, Any]) -> str:
    """A lifecycle event as Slack delivers it (stamped now, whole seconds), applied."""
    payload = envelope(
        event,
        team_id="T0TEAM1",
        enterprise_id=None,
        is_enterprise_install=False,
        event_id=None,
        event_time=int(time.time()),
    )
    payload["api_app_id"] = "A0APP"  # store_installation's app (tests/support/factories.py)
    outcome = handle_event(payload)
    assert outcome == "applied"
    return outcome


def staff_revoke(store: DjangoInstallationStore) -> None:
    """The bookkeeping of lifecycle.staff_actions.revoke_workspace once Slack confirmed every
    token it read: when a save stored other tokens meanwhile, it revokes those too and tries
    again (here: reads them again), so the revocation still wins."""
    for _round in range(3):
        workspace = Workspace.objects.get(team_id="T0TEAM1")
        try:
            revocation.mark_revoked_by_staff(
                workspace,
                actor="staff:tester",
                detail="auth.revoke ok",
                revoked=revocation.live_tokens(workspace),
            )
            return
        except revocation.TokensChangedMeanwhile:
            continue
    raise AssertionError("the tokens kept changing")


@dataclass(frozen=True)
class Revocation:
    """One way a revocation lands, and what it takes away: the bot pair, the installer's user
    pair, the installation's incoming-webhook URL."""

    apply: Callable[[DjangoInstallationStore], object]
    bot: bool
    user: bool
    webhook: bool


REVOCATIONS = {
    "app_uninstalled": Revocation(
        lambda store: slack_event({"type": "app_uninstalled"}), bot=True, user=True, webhook=True
    ),
    "tokens_revoked_bot": Revocation(
        lambda store: slack_event(
            {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["U0BOTUSER"]}}
        ),
        bot=True,
        user=False,
        webhook=False,
    ),
    "tokens_revoked_user": Revocation(
        lambda store: slack_event(
            {"type": "tokens_revoked", "tokens": {"oauth": [INSTALLER], "bot": []}}
        ),
        bot=False,
        user=True,
        webhook=False,
    ),
    "staff_revoke": Revocation(staff_revoke, bot=True, user=True, webhook=True),
    "bolt_delete_all": Revocation(
        lambda store: store.delete_all(**TEAM), bot=True, user=True, webhook=True
    ),
    "bolt_delete_bot": Revocation(
        lambda store: store.delete_bot(**TEAM), bot=True, user=False, webhook=False
    ),
    "bolt_delete_installation": Revocation(
        lambda store: store.delete_installation(**TEAM, user_id=INSTALLER),
        bot=False,
        user=True,
        webhook=False,
    ),
}


def rotated(installation: SdkInstallation) -> SdkInstallation:
    """What TokenRotator.perform_token_rotation hands back: the read data, a new pair for each
    pair that has a refresh token."""
    new = SdkInstallation(**installation.to_dict_for_copying())
    if installation.bot_refresh_token:
        new.bot_token, new.bot_refresh_token = fake_token("xoxe.xoxb-1"), fake_token("xoxe-1")
        new.bot_token_expires_at = int(time.time()) + 43200
    if installation.user_refresh_token:
        new.user_token, new.user_refresh_token = fake_token("xoxe.xoxp-1"), fake_token("xoxe-1")
        new.user_token_expires_at = int(time.time()) + 43200
    return new


def rotated_bot(bot: Bot) -> Bot:
    """What TokenRotator.perform_bot_token_rotation hands back."""
    new = Bot(**bot.to_dict_for_copying())
    new.bot_token, new.bot_refresh_token = fake_token("xoxe.xoxb-1"), fake_token("xoxe-1")
    new.bot_token_expires_at = int(time.time()) + 43200
    return new


@dataclass
class Saver:
    """Bolt's read, rotate and save, through the sync or the async store."""

    read: Callable[[DjangoInstallationStore], Any]
    rotate: Callable[[Any], Any]
    save: Callable[[DjangoInstallationStore, Any], None]
    carries_user: bool


def _async(name: str) -> Callable[[DjangoInstallationStore, Any], None]:
    def save(store: DjangoInstallationStore, data: Any) -> None:
        async_store = AsyncDjangoInstallationStore(client_id=store.client_id)
        async_to_sync(getattr(async_store, name))(data)

    return save


def _async_read(name: str, **extra: Any) -> Callable[[DjangoInstallationStore], Any]:
    def read(store: DjangoInstallationStore) -> Any:
        async_store = AsyncDjangoInstallationStore(client_id=store.client_id)
        return async_to_sync(getattr(async_store, name))(**TEAM, **extra)

    return read


SAVERS = {
    "save": Saver(
        lambda store: store.find_installation(**TEAM, user_id=INSTALLER),
        rotated,
        lambda store, data: store.save(data),
        carries_user=True,
    ),
    "save_bot": Saver(
        lambda store: store.find_bot(**TEAM),
        rotated_bot,
        lambda store, data: store.save_bot(data),
        carries_user=False,
    ),
    "async_save": Saver(
        _async_read("async_find_installation", user_id=INSTALLER),
        rotated,
        _async("async_save"),
        carries_user=True,
    ),
    "async_save_bot": Saver(
        _async_read("async_find_bot"), rotated_bot, _async("async_save_bot"), carries_user=False
    ),
}


@pytest.fixture
def installed(our_store: DjangoInstallationStore) -> SdkInstallation:
    """A rotating install with bot, user token and an incoming webhook, an hour ago."""
    installation = store_installation(
        installed_at=(timezone.now() - timedelta(hours=1)).timestamp(),
        bot_refresh_token=fake_token("xoxe-1"),
        user_refresh_token=fake_token("xoxe-1"),
        bot_token_expires_at=int(time.time()) + 60,
        user_token_expires_at=int(time.time()) + 60,
        incoming_webhook_url=fake_token("https://hooks.slack.invalid/services/T0TEAM1"),
        incoming_webhook_channel="#general",
        incoming_webhook_channel_id="C0GENERAL",
    )
    our_store.save(installation)
    return installation


def marks() -> dict[str, Any]:
    """Every revocation mark and every token's presence, without decrypting anything."""
    workspace = Workspace.objects.get(team_id="T0TEAM1")
    row = Installation.objects.get(workspace=workspace, user_id=INSTALLER)
    return {
        "uninstalled_at": workspace.uninstalled_at,
        "bot_revoked_at": workspace.bot_revoked_at,
        "health": workspace.health,
        "has_bot_token": workspace.bot_token is not None,
        "has_bot_refresh_token": workspace.bot_refresh_token is not None,
        "user_token_revoked_at": row.user_token_revoked_at,
        "deleted_at": row.deleted_at,
        "has_user_token": row.user_token is not None,
        "has_user_refresh_token": row.user_refresh_token is not None,
        "has_webhook": row.incoming_webhook_url is not None,
    }


@pytest.mark.parametrize("saver_name", SAVERS)
@pytest.mark.parametrize("revocation_name", REVOCATIONS)
def test_a_revocation_between_rotation_and_save_stands(
    our_store: DjangoInstallationStore,
    installed: SdkInstallation,
    saver_name: str,
    revocation_name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    saver, kind = SAVERS[saver_name], REVOCATIONS[revocation_name]
    read = saver.read(our_store)
    new = saver.rotate(read)
    kind.apply(our_store)
    after_revocation = marks()

    caplog.set_level(logging.INFO, logger="installations")
    saver.save(our_store, new)

    workspace = Workspace.objects.get(team_id="T0TEAM1")
    row = Installation.objects.get(workspace=workspace, user_id=INSTALLER)
    if kind.bot:
        assert marks() == after_revocation
        assert our_store.find_bot(**TEAM) is None
    else:  # what the revocation did not touch still takes the rotated bot
        assert (workspace.bot_token, workspace.bot_refresh_token) == (
            new.bot_token,
            new.bot_refresh_token,
        )
    if kind.user:
        assert (row.user_token, row.user_refresh_token) == (None, None)
        assert row.user_token_revoked_at == after_revocation["user_token_revoked_at"]
        assert row.deleted_at == after_revocation["deleted_at"]
        assert our_store.find_installation(**TEAM, user_id=INSTALLER) is None
    elif saver.carries_user:
        assert row.user_token == new.user_token
    else:
        assert row.user_token == installed.user_token
    if kind.webhook:
        assert row.incoming_webhook_url is None
    else:
        assert row.incoming_webhook_url == installed.incoming_webhook_url
    assert workspace.uninstalled_at == after_revocation["uninstalled_at"]

    refused = [r for r in caplog.records if "left revocations standing" in r.getMessage()]
    carried_revoked = kind.bot or (kind.user and saver.carries_user)
    assert len(refused) == int(carried_revoked)
    if refused:
        assert refused[0].levelno == logging.INFO
        assert ("bot token" in refused[0].getMessage()) == kind.bot
    for secret in (new.bot_token, new.bot_refresh_token, installed.incoming_webhook_url):
        assert secret is not None and secret not in caplog.text
    if saver.carries_user:
        assert new.user_token not in caplog.text and new.user_refresh_token not in caplog.text


@pytest.mark.parametrize("revocation_name", REVOCATIONS)
def test_a_new_install_after_the_revocation_still_wins(
    our_store: DjangoInstallationStore, installed: SdkInstallation, revocation_name: str
) -> None:
    REVOCATIONS[revocation_name].apply(our_store)
    again = store_installation(
        installed_at=time.time(),  # a new exchange, after the revocation was recorded
        incoming_webhook_url=fake_token("https://hooks.slack.invalid/services/T0TEAM1"),
    )
    our_store.save(again)
    workspace = Workspace.objects.get(team_id="T0TEAM1")
    assert workspace.uninstalled_at is None and workspace.bot_revoked_at is None
    assert found_bot(our_store, **TEAM).bot_token == again.bot_token
    found = found_installation(our_store, **TEAM, user_id=INSTALLER)
    assert found.user_token == again.user_token
    assert found.incoming_webhook_url == again.incoming_webhook_url


def test_a_resave_for_another_user_after_a_user_revocation_refuses_nothing(
    our_store: DjangoInstallationStore,
    installed: SdkInstallation,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Bolt acting for someone else re-saves the installer's row without its user token."""
    latest = found_installation(our_store, **TEAM)
    latest.user_token = latest.user_refresh_token = latest.user_token_expires_at = None
    new = rotated(latest)
    REVOCATIONS["tokens_revoked_user"].apply(our_store)
    caplog.set_level(logging.INFO, logger="installations")
    our_store.save(new)
    assert found_bot(our_store, **TEAM).bot_token == new.bot_token
    assert Installation.objects.get(user_id=INSTALLER).user_token is None
    assert "left revocations standing" not in caplog.text


def test_an_event_stamped_in_the_flows_own_second_reaches_it() -> None:
    """Slack's event_time is whole seconds: an event in the install's second counts as after
    it, the rule revocation.is_stale applies to events arriving after a save."""
    installed_at = timezone.now().replace(microsecond=600_000)
    same_second = installed_at.replace(microsecond=0)
    assert persistence.reached_flow(same_second, installed_at)
    assert not revocation.is_stale(same_second, installed_at)
    a_second_earlier = same_second - timedelta(seconds=1)
    assert not persistence.reached_flow(a_second_earlier, installed_at)
    assert revocation.is_stale(a_second_earlier, installed_at)
    assert not persistence.reached_flow(None, installed_at)


def test_a_resave_of_a_revoked_older_users_row_keeps_the_newer_users_tokens(
    our_store: DjangoInstallationStore, installed: SdkInstallation
) -> None:
    """Alice's row is re-saved (with the current bot merged in) after her token was revoked;
    Bob, who installed later, keeps his row, and the rotated bot still lands."""
    bob = store_installation(installed_at=time.time(), user_id="U0BOB")
    our_store.save(bob)
    alice = found_installation(our_store, **TEAM, user_id=INSTALLER)
    new = rotated(alice)
    REVOCATIONS["tokens_revoked_user"].apply(our_store)
    our_store.save(new)
    assert Installation.objects.get(user_id=INSTALLER).user_token is None
    assert Installation.objects.get(user_id="U0BOB").user_token == bob.user_token
    assert found_bot(our_store, **TEAM).bot_token == new.bot_token
    assert Workspace.objects.get().installer_user_id == "U0BOB"
