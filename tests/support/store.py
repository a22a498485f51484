"""Store test helpers: slack_sdk's SQLite3 store made comparable (rows stamped with the object's
own install time), a signed event's payload, a workspace column as the database holds it, and
lookups that must find what the test saved."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore

from installations.models import Workspace

# An app_mention as the sync and async Bolt tests send it.
MENTION = {"type": "app_mention", "user": "U0SOMEONE", "text": "hi", "channel": "C0GENERAL"}


def stored_envelope(workspace: Workspace, column: str) -> str:
    """What the database holds in ``column`` of the workspace's row (read past the ORM)."""
    with connection.cursor() as cursor:
        key = workspace.pk.hex if connection.vendor == "sqlite" else workspace.pk
        cursor.execute(f"select {column} from installations_workspace where id = %s", [key])
        return str(cursor.fetchone()[0])


def found_bot(store: InstallationStore, **lookup: Any) -> Bot:
    """``store.find_bot(**lookup)`` where the test has saved that bot: it must be found."""
    bot = store.find_bot(**lookup)
    assert bot is not None, f"find_bot({lookup}) found nothing"
    return bot


def found_installation(store: InstallationStore, **lookup: Any) -> Installation:
    """``store.find_installation(**lookup)`` where the test has saved it: it must be found."""
    installation = store.find_installation(**lookup)
    assert installation is not None, f"find_installation({lookup}) found nothing"
    return installation


class StampedSQLite3Store(SQLite3InstallationStore):
    """slack_sdk's SQLite3 store, with each new row stamped with the object's own installed_at.

    The SQLite3 store ignores ``installed_at`` and stamps rows with SQLite's current_timestamp
    (one-second resolution), so saves made within one test tie and its "latest" is arbitrary.
    Stamping afterwards makes it behave as if the saves had happened at those times.
    """

    def _stamp(self, table: str, installed_at: float) -> None:
        when = datetime.fromtimestamp(installed_at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        with sqlite3.connect(self.database) as conn:
            conn.execute(
                f"update {table} set installed_at = ? where id = (select max(id) from {table})",
                [when],
            )

    def save(self, installation: Installation) -> None:
        super().save(installation)  # inserts the installation, then calls save_bot
        self._stamp("slack_installations", installation.installed_at)

    def save_bot(self, bot: Bot) -> None:
        super().save_bot(bot)
        if bot.bot_token is not None:
            self._stamp("slack_bots", bot.installed_at)
