"""Fixtures for the store tests (kept apart so parallel work does not collide).

Tokens are generated per run; they only look like Slack's (prefix + random hex).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore
from sqlalchemy import create_engine

from installations.bolt.store import DjangoInstallationStore
from tests import factories

# The store suites' data comes from tests/factories.py (store_installation, STORE_IDS, T0).


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


@pytest.fixture(params=["compiled", "plain"])
def lookup_path(request: pytest.FixtureRequest, settings: Any) -> str:
    """Run a test with the stores' lookups precompiled, then as plain querysets
    (SLACK_COMPILED_LOOKUPS; installations/bolt/compiled_lookup.py): both must answer alike.
    Store test modules use it for every test: ``pytest.mark.usefixtures("lookup_path")``."""
    settings.SLACK_COMPILED_LOOKUPS = request.param == "compiled"
    return str(request.param)


@pytest.fixture
def our_store() -> DjangoInstallationStore:
    return DjangoInstallationStore(client_id="1111.2222")


@pytest.fixture
def sqlite3_store(tmp_path: Any) -> SQLite3InstallationStore:
    return StampedSQLite3Store(database=str(tmp_path / "sdk.sqlite3"), client_id="1111.2222")


@pytest.fixture
def sqlalchemy_store(tmp_path: Any) -> Iterator[SQLAlchemyInstallationStore]:
    engine = create_engine(f"sqlite:///{tmp_path / 'sa.sqlite3'}")
    store = SQLAlchemyInstallationStore(client_id="1111.2222", engine=engine)
    store.create_tables()
    yield store
    engine.dispose()


@pytest.fixture(params=["sqlite3", "sqlalchemy"])
def reference_store(request: pytest.FixtureRequest) -> Any:
    """slack_sdk's own stores, the behaviour ours must match."""
    return request.getfixturevalue(f"{request.param}_store")


@pytest.fixture
def installation_factory() -> Callable[..., Installation]:
    return factories.store_installation
