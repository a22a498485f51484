"""Lookup speed: DjangoInstallationStore vs slack_sdk's SQLite3 and SQLAlchemy stores.

Run: .venv/bin/python benchmarks/store_lookup.py [--workspaces 10000] [--lookups 3000]

Loads the same installations into each store (ours encrypted; slack_sdk's in plaintext), all on
SQLite files in one temp directory, then prints the median time of find_bot and
find_installation (with and without user_id) per store, and our ratio to each. Every lookup of
ours decrypts the tokens it returns. "ours" runs the precompiled lookups
(installations/bolt/compiled_lookup.py), "plain" the same store with SLACK_COMPILED_LOOKUPS off
(plain querysets: what every lookup falls back to if Django's internals change). Secrets are
generated for this run only.
"""

from __future__ import annotations

import argparse
import atexit
import os
import random
import secrets
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TMP = Path(tempfile.mkdtemp(prefix="store-bench-"))
atexit.register(shutil.rmtree, TMP, ignore_errors=True)
CLIENT_ID = "1111.2222"


def configure_django() -> None:
    from installations.encryption.keyring import generate_key_entry

    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "slackinstall.settings",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "TOKEN_ENCRYPTION_KEYS": generate_key_entry("bench1"),
            "SLACK_CLIENT_ID": CLIENT_ID,
            "SLACK_CLIENT_SECRET": "fake-" + secrets.token_hex(8),
            "SLACK_SIGNING_SECRET": "fake-" + secrets.token_hex(8),
            "SLACK_REDIRECT_URI": "https://bench.invalid/slack/oauth_redirect",
            "DATABASE_URL": f"sqlite:///{TMP / 'ours.sqlite3'}",
            "DJANGO_ALLOWED_HOSTS": "localhost",
        }
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def fake(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def installations(count: int) -> list[Any]:
    from slack_sdk.oauth.installation_store import Installation

    start = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        Installation(
            app_id="A0APP",
            team_id=f"T{n:08d}",
            team_name=f"Team {n}",
            bot_token=fake("xoxb"),
            bot_id=f"B{n:08d}",
            bot_user_id=f"U{n:08d}",
            bot_scopes="commands,chat:write",
            user_id=f"W{n:08d}",
            user_token=fake("xoxp"),
            user_scopes="search:read",
            token_type="bot",
            installed_at=(start + timedelta(seconds=n)).timestamp(),
        )
        for n in range(count)
    ]


def load_ours(data: list[Any]) -> Any:
    from django.db import transaction

    from installations.bolt.store import DjangoInstallationStore
    from installations.models import Installation, Workspace
    from installations.slack.sdk_mapping import as_datetime

    workspaces, rows = [], []
    for item in data:
        when = as_datetime(item.installed_at)
        ws = Workspace(client_id=CLIENT_ID, app_id=item.app_id, team_id=item.team_id,
                       team_name=item.team_name, token_type=item.token_type,
                       bot_token=item.bot_token, bot_id=item.bot_id, bot_user_id=item.bot_user_id,
                       bot_scopes=",".join(item.bot_scopes), installer_user_id=item.user_id,
                       first_installed_at=when, installed_at=when)  # fmt: skip
        workspaces.append(ws)
        rows.append(Installation(workspace=ws, client_id=CLIENT_ID, app_id=item.app_id,
                                 team_id=item.team_id, team_name=item.team_name,
                                 token_type=item.token_type, user_id=item.user_id,
                                 user_token=item.user_token, user_scopes="search:read",
                                 bot_id=item.bot_id, bot_user_id=item.bot_user_id,
                                 bot_scopes=",".join(item.bot_scopes), installed_at=when,
                                 source="store"))  # fmt: skip
    with transaction.atomic():  # bulk_create seals each token with its row's id, as save() does
        Workspace.objects.bulk_create(workspaces, batch_size=500)
        Installation.objects.bulk_create(rows, batch_size=500)
    return DjangoInstallationStore(client_id=CLIENT_ID)


INSTALL_COLUMNS = (
    "client_id app_id enterprise_id team_id team_name bot_token bot_id bot_user_id bot_scopes "
    "user_id user_token user_scopes is_enterprise_install token_type installed_at"
).split()
BOT_COLUMNS = (
    "client_id app_id enterprise_id team_id team_name bot_token bot_id bot_user_id bot_scopes "
    "is_enterprise_install installed_at"
).split()


def row_of(item: Any, columns: list[str], empty: str | None) -> dict[str, Any]:
    values = {**item.to_dict(), "client_id": CLIENT_ID}
    values["enterprise_id"] = empty
    values["installed_at"] = values["installed_at"].replace(tzinfo=None)
    return {c: values[c] for c in columns}


def load_sqlite3(data: list[Any]) -> Any:
    from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore

    store = SQLite3InstallationStore(database=str(TMP / "sdk.sqlite3"), client_id=CLIENT_ID)
    store.init()  # creates its tables and indexes
    with sqlite3.connect(store.database) as conn:  # bulk load; lookups go through the store
        for table, columns in (
            ("slack_installations", INSTALL_COLUMNS),
            ("slack_bots", BOT_COLUMNS),
        ):
            marks = ",".join("?" * len(columns))
            conn.executemany(
                f"insert into {table} ({','.join(columns)}) values ({marks})",
                [[str(v) if isinstance(v, datetime) else v for v in row_of(i, columns, "").values()]
                 for i in data],
            )  # fmt: skip
    return store


def load_sqlalchemy(data: list[Any]) -> Any:
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{TMP / 'sa.sqlite3'}")
    store = SQLAlchemyInstallationStore(client_id=CLIENT_ID, engine=engine)
    store.create_tables()
    with engine.begin() as conn:
        conn.execute(store.installations.insert(), [row_of(i, INSTALL_COLUMNS, None) for i in data])
        conn.execute(store.bots.insert(), [row_of(i, BOT_COLUMNS, None) for i in data])
    return store


def median_us(call: Callable[[Any], Any], targets: list[Any], *, compiled: bool = True) -> float:
    from django.conf import settings

    settings.SLACK_COMPILED_LOOKUPS = compiled
    try:
        return _median_us(call, targets)
    finally:
        settings.SLACK_COMPILED_LOOKUPS = True


def _median_us(call: Callable[[Any], Any], targets: list[Any]) -> float:
    for item in targets[:200]:  # warm caches and connections
        call(item)
    timings = []
    for item in targets:
        start = time.perf_counter_ns()
        found = call(item)
        timings.append(time.perf_counter_ns() - start)
        assert found is not None and (found.bot_token or "").startswith("xoxb-")
    return statistics.median(timings) / 1000


LOOKUPS: dict[str, Callable[[Any], Callable[[Any], Any]]] = {
    "find_bot": lambda s: lambda i: s.find_bot(enterprise_id=None, team_id=i.team_id),
    "find_installation": lambda s: (
        lambda i: s.find_installation(enterprise_id=None, team_id=i.team_id)
    ),
    "find_installation(user_id)": lambda s: (
        lambda i: s.find_installation(enterprise_id=None, team_id=i.team_id, user_id=i.user_id)
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=3_000)
    args = parser.parse_args()
    configure_django()
    data = installations(args.workspaces)
    stores = {
        "ours": load_ours(data),
        "sqlite3": load_sqlite3(data),
        "sqlalchemy": load_sqlalchemy(data),
    }
    targets = random.Random(7).choices(data, k=args.lookups)
    print(f"{args.workspaces} workspaces, {args.lookups} lookups each; median microseconds")
    print(
        f"{'lookup':28} {'ours':>8} {'plain':>8} {'sqlite3':>8} {'sqlalchemy':>10} "
        f"{'/sqlite3':>9} {'/sqlalch':>9} {'plain/ours':>10}"
    )
    for name, make in LOOKUPS.items():
        med = {label: median_us(make(store), targets) for label, store in stores.items()}
        med["plain"] = median_us(make(stores["ours"]), targets, compiled=False)
        print(
            f"{name:28} {med['ours']:8.1f} {med['plain']:8.1f} {med['sqlite3']:8.1f} "
            f"{med['sqlalchemy']:10.1f} {med['ours'] / med['sqlite3']:8.2f}x "
            f"{med['ours'] / med['sqlalchemy']:8.2f}x {med['plain'] / med['ours']:9.2f}x"
        )


if __name__ == "__main__":
    main()
