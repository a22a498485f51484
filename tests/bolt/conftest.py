"""Fixtures for the Bolt store tests: slack_sdk's own stores to match.

Tokens are generated per run; they only look like Slack's (prefix + random hex). ``our_store`` is
in tests/conftest.py (the lifecycle's re-save tests use it too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore
from sqlalchemy import create_engine

from tests.support import factories
from tests.support.store import StampedSQLite3Store

# The store suites' data comes from tests/support/factories.py (store_installation, STORE_IDS, T0).


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
