"""The peer's stores and their tables: slack_sdk's SQLAlchemy ones, on the benchmark database."""

from __future__ import annotations

import logging
import os

import sqlalchemy
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

logger = logging.getLogger(__name__)
STATE_EXPIRATION_SECONDS = 600  # as slackinstall's SLACK_STATE_TTL_SECONDS default


def engine(url: str | None = None) -> sqlalchemy.Engine:
    """SQLAlchemy's default engine (QueuePool of 5 per process), as the store's docs create it."""
    return sqlalchemy.create_engine(url or os.environ["PEER_DATABASE_URL"])


def stores(
    db: sqlalchemy.Engine, client_id: str
) -> tuple[SQLAlchemyInstallationStore, SQLAlchemyOAuthStateStore]:
    installation_store = SQLAlchemyInstallationStore(client_id=client_id, engine=db, logger=logger)
    state_store = SQLAlchemyOAuthStateStore(
        expiration_seconds=STATE_EXPIRATION_SECONDS, engine=db, logger=logger
    )
    return installation_store, state_store


def reset_tables(url: str, client_id: str) -> None:
    """Drop and create the peer's tables (they are not Django's: ``flush`` leaves them)."""
    db = engine(url)
    for store in stores(db, client_id):
        store.metadata.drop_all(db)
        store.metadata.create_all(db)
    db.dispose()


def count_installations(url: str, client_id: str) -> int:
    db = engine(url)
    installation_store, _ = stores(db, client_id)
    with db.connect() as connection:
        table = installation_store.installations
        query = sqlalchemy.select(sqlalchemy.func.count()).select_from(table)
        found = int(connection.execute(query).scalar_one())
    db.dispose()
    return found
