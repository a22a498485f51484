"""Bolt's store in a process whose TOKEN_ENCRYPTION_KEYS cannot read the stored tokens.

An unreadable value is a configuration error of this process (a host not restarted after a key
rotation, a key id missing or holding another key), never a fact about the workspace. Lookups
raise (Bolt then fails that one request: HTTP 500, so Slack retries an event) instead of
answering None (Bolt's "not installed", which acks and drops the event); saves keep the new
value they hold in plain text. Nothing stored is erased, marked or skipped, and the ERROR line
names the key id needed and the key ids configured, never a value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.utils import timezone

from installations.bolt.async_store import AsyncDjangoInstallationStore
from installations.bolt.store import DjangoInstallationStore
from installations.encryption.fields import EncryptedDataError
from installations.encryption.keyring import generate_key_entry
from installations.models import LifecycleEvent, Workspace
from slackstandin import SlackStandIn
from tests.bolt.test_bolt_app import Bolt
from tests.support.factories import fake_token, store_installation
from tests.support.store import MENTION, found_bot, found_installation

pytestmark = pytest.mark.django_db

TEAM: dict[str, Any] = {"enterprise_id": None, "team_id": "T0TEAM1"}
OTHER_KEYS = {
    # the key id the values name is not configured here at all
    "missing_key_id": lambda: generate_key_entry("other"),
    # the same key id holds another key in this process
    "other_key_same_id": lambda: generate_key_entry("test1"),
}


TABLES = ("installations_workspace", "installations_installation")


def database_rows(*tables: str) -> list[tuple[Any, ...]]:
    """Every stored value as the database holds it (envelopes, marks, times)."""
    with connection.cursor() as cursor:
        rows = []
        for table in tables or TABLES:
            cursor.execute(f"select * from {table} order by id")  # table names are ours
            rows += [tuple(row) for row in cursor.fetchall()]
        return rows


@pytest.fixture
def stored(our_store: DjangoInstallationStore) -> Any:
    installation = store_installation(
        bot_refresh_token=fake_token("xoxe-1"),
        user_refresh_token=fake_token("xoxe-1"),
        incoming_webhook_url=fake_token("https://hooks.slack.invalid/services/T0TEAM1"),
    )
    our_store.save(installation)
    return installation


LOOKUPS: dict[str, Callable[[DjangoInstallationStore], Any]] = {
    "find_bot": lambda store: store.find_bot(**TEAM),
    "find_installation": lambda store: store.find_installation(**TEAM),
    "find_installation_of_user": lambda store: store.find_installation(
        **TEAM, user_id="U0INSTALL1"
    ),
    "async_find_bot": lambda store: async_to_sync(
        AsyncDjangoInstallationStore(client_id=store.client_id).async_find_bot
    )(**TEAM),
    "async_find_installation": lambda store: async_to_sync(
        AsyncDjangoInstallationStore(client_id=store.client_id).async_find_installation
    )(**TEAM, user_id="U0INSTALL1"),
}


def assert_error_names_the_keys(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors, "an unreadable token must be reported at ERROR"
    message = errors[0].getMessage()
    assert "needs key id test1" in message
    assert "configured: " in message and ("other" in message or "test1" in message)
    for secret in secrets:
        assert secret not in caplog.text


@pytest.mark.parametrize("keys", OTHER_KEYS)
@pytest.mark.parametrize("lookup", LOOKUPS)
def test_a_lookup_raises_logs_the_key_ids_and_changes_nothing(
    our_store: DjangoInstallationStore,
    stored: Any,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    lookup: str,
    keys: str,
) -> None:
    before = database_rows()
    settings.TOKEN_ENCRYPTION_KEYS = OTHER_KEYS[keys]()
    caplog.set_level(logging.INFO, logger="installations")
    with pytest.raises(EncryptedDataError) as raised:
        LOOKUPS[lookup](our_store)
    assert stored.bot_token not in str(raised.value)
    assert_error_names_the_keys(caplog, stored.bot_token, stored.user_token)
    assert database_rows() == before
    assert not LifecycleEvent.objects.exclude(kind="installed").exists()


@pytest.mark.parametrize("keys", OTHER_KEYS)
def test_save_bot_keeps_the_rotated_token_and_erases_nothing(
    our_store: DjangoInstallationStore,
    stored: Any,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    keys: str,
) -> None:
    bot = found_bot(our_store, **TEAM)
    Workspace.objects.update(refresh_failed_at=timezone.now())  # our refresher lost a race
    history_before = database_rows("installations_installation")
    settings.TOKEN_ENCRYPTION_KEYS = OTHER_KEYS[keys]()
    caplog.set_level(logging.INFO, logger="installations")
    bot.bot_token, bot.bot_refresh_token = fake_token("xoxe.xoxb-1"), fake_token("xoxe-1")

    our_store.save_bot(bot)

    assert_error_names_the_keys(caplog, bot.bot_token, bot.bot_refresh_token, stored.bot_token)
    workspace = Workspace.objects.get()
    # the rotated pair is saved (readable with this process's key), the mark is not left to make
    # the refresher skip the row forever, nothing is marked revoked or dead
    assert (workspace.bot_token, workspace.bot_refresh_token) == (
        bot.bot_token,
        bot.bot_refresh_token,
    )
    assert workspace.refresh_failed_at is None and workspace.bot_revoked_at is None
    assert workspace.uninstalled_at is None and workspace.health == "unknown"
    # the history row (user tokens, webhook) is byte for byte what it was
    assert database_rows("installations_installation") == history_before


def test_a_bolt_resave_keeps_what_it_does_not_carry(
    our_store: DjangoInstallationStore, stored: Any, settings: Any
) -> None:
    """Bolt acting for another user re-saves without the installer's user token: the stored,
    unreadable one stays as it is, and the webhook too."""
    latest = found_installation(our_store, **TEAM)
    settings.TOKEN_ENCRYPTION_KEYS = generate_key_entry("other")
    latest.user_token = latest.user_refresh_token = None
    latest.bot_token, latest.bot_refresh_token = fake_token("xoxe.xoxb-1"), fake_token("xoxe-1")
    before = database_rows("installations_installation")

    our_store.save(latest)

    assert database_rows("installations_installation") == before
    assert Workspace.objects.get().bot_token == latest.bot_token


def test_a_bolt_app_fails_the_request_instead_of_calling_it_not_installed(
    standin: SlackStandIn, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bolt = Bolt(standin, settings, rotation_minutes=120)
    bolt.install()
    before = database_rows()
    calls = len(standin.calls)
    settings.TOKEN_ENCRYPTION_KEYS = generate_key_entry("other")
    caplog.set_level(logging.INFO)

    response = bolt.send_full(MENTION, team_id="T0STANDIN1")

    # Bolt answers an exception from its authorize with 500: Slack retries the event later,
    # where "not installed" would have been a 200 with the install message and the event lost
    assert response.status_code == 500
    assert bolt.seen == []
    assert len(standin.calls) == calls  # no token was used, none was rotated
    assert database_rows() == before
    assert_error_names_the_keys(caplog, standin.issued[-1]["access_token"])
