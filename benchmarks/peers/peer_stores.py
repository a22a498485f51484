"""The peer's stores and their tables on the benchmark database: slack_sdk's SQLAlchemy ones, and
with ``PEER_STORES=django`` those of bolt-python's Django example (example_app/)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Mapping

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


def reset_tables(env: Mapping[str, str]) -> None:
    """The peer's tables, empty, for the peer environment ``env`` (PEER_DATABASE_URL,
    SLACK_CLIENT_ID, PEER_STORES): SQLAlchemy's dropped and created (they are not Django's:
    ``flush`` leaves them), the example's migrated to zero and back (ours does not know them)."""
    db = engine(env["PEER_DATABASE_URL"])
    for store in stores(db, env["SLACK_CLIENT_ID"]):
        store.metadata.drop_all(db)
        store.metadata.create_all(db)
    db.dispose()
    if env.get("PEER_STORES") == "django":
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        for target in (["example_app", "zero"], ["example_app"]):
            subprocess.run(
                [sys.executable, "-m", "django", "migrate", *target, "--verbosity=0"],
                cwd=root,
                env={**env, "PYTHONPATH": root},
                check=True,
            )


def count_installations(env: Mapping[str, str]) -> int:
    """The installations the peer of ``env`` stored, in whichever stores it runs."""
    db = engine(env["PEER_DATABASE_URL"])
    if env.get("PEER_STORES") == "django":
        table = sqlalchemy.table("example_app_slackinstallation")
    else:
        table = stores(db, env["SLACK_CLIENT_ID"])[0].installations
    query = sqlalchemy.select(sqlalchemy.func.count()).select_from(table)
    with db.connect() as connection:
        found = int(connection.execute(query).scalar_one())
    db.dispose()
    return found
