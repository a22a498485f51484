"""Lookup speed: DjangoInstallationStore vs slack_sdk's SQLite3 and SQLAlchemy stores.

Run: .venv/bin/python benchmarks/store_lookup.py [--workspaces 10000] [--lookups 3000] [--quick]
     BENCH_DATABASE_URL=postgres://.../bench... (same): ours and SQLAlchemy's on PostgreSQL
     --profile: where our find_installation's time goes, instead of the comparison (below)

Loads the same installations into each store (ours encrypted; slack_sdk's in plaintext), then
times find_bot and find_installation (with and without user_id) on every store in turn, lookup
by lookup (a burst of load from elsewhere hits all stores alike), in ``--rounds`` rounds; our
ratio to each of slack_sdk's stores is taken per round and recorded as the rounds' median and
range (results.py). Every lookup of ours is one query and decrypts the tokens it returns;
"orm" is our store with both lookups written as the querysets they replace
(installations/bolt/latest_sql.py: find_bot one statement through ``Manager.raw``,
find_installation one through ``connection.cursor()``, allowed only while it takes at most half
the time of its queryset: a figure with that target). SQLite: each store on
its own file in one temp directory. PostgreSQL: ours and SQLAlchemy's in the bench database (its
tables are emptied); slack_sdk's SQLite3 store has no PostgreSQL twin. Secrets are generated
for this run only.

``--profile`` splits our find_installation into the database's part and Python's: medians of the
whole lookup, of its statement alone through Django's cursor and of ``SELECT 1`` (a bare round
trip); its plan; then the top cProfile lines of 1,000 lookups.
"""

from __future__ import annotations

import argparse
import atexit
import cProfile
import io
import os
import pstats
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bootstrap import analyze, database_label, setup_django
from benchmarks.results import median_of, ratios, record

TMP = Path(tempfile.mkdtemp(prefix="store-bench-"))
atexit.register(shutil.rmtree, TMP, ignore_errors=True)
CLIENT_ID = "1111.2222"  # bootstrap's SLACK_CLIENT_ID
# No slower than slack_sdk's own stores.
TARGETS = {"sqlite3": 1.0, "sqlalchemy": 1.0}
STORE_NAMES = {"sqlite3": "SQLite3", "sqlalchemy": "SQLAlchemy"}
# find_installation's statement through connection.cursor() stays only while it takes at most half
# the time of its queryset; find_bot's (Manager.raw, public API) is shown beside, without a target.
STATEMENT_TARGETS = {"find_installation": 0.5, "find_installation(user_id)": 0.5}


def fake(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def orm_store() -> Any:
    """Our store with both lookups as querysets (what latest_sql.py's statements replace)."""
    from installations.bolt.latest_sql import as_queryset, bot_as_queryset
    from installations.bolt.store import DjangoInstallationStore, bot_from, installation_from

    class OrmStore(DjangoInstallationStore):
        def find_bot(self, **target: Any) -> Any:
            key = self._key(target["enterprise_id"], target["team_id"], False)
            return bot_from(bot_as_queryset(**key).first(), key)

        def find_installation(self, **target: Any) -> Any:
            key = self._key(target["enterprise_id"], target["team_id"], False)
            row = as_queryset(**key, user_id=target.get("user_id")).first()
            return installation_from(row, key)

    return OrmStore(client_id=CLIENT_ID)


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
        assert when is not None  # slack_sdk's Installation always carries its install time
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


def load_sqlalchemy(data: list[Any], url: str | None) -> Any:
    """slack_sdk's SQLAlchemy store: on its own SQLite file, or in the bench PostgreSQL."""
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
    from sqlalchemy import create_engine

    if url:  # postgres://... in SQLAlchemy's words for psycopg 3
        engine = create_engine("postgresql+psycopg://" + url.split("://", 1)[1])
    else:
        engine = create_engine(f"sqlite:///{TMP / 'sa.sqlite3'}")
    store = SQLAlchemyInstallationStore(client_id=CLIENT_ID, engine=engine)
    store.metadata.drop_all(engine)  # a previous run's rows
    store.create_tables()
    with engine.begin() as conn:
        conn.execute(store.installations.insert(), [row_of(i, INSTALL_COLUMNS, None) for i in data])
        conn.execute(store.bots.insert(), [row_of(i, BOT_COLUMNS, None) for i in data])
    return store


def interleaved_medians(
    calls: dict[str, Callable[[Any], Any]], targets: list[Any], rounds: int
) -> dict[str, list[float]]:
    """Median microseconds per store and round: the targets split into ``rounds`` rounds, each
    store timed on a target before the next target (a burst of load hits every store alike)."""
    for item in targets[:200]:  # warm caches and connections
        for call in calls.values():
            call(item)
    medians: dict[str, list[float]] = {label: [] for label in calls}
    size = len(targets) // rounds
    for start in range(0, size * rounds, size):
        timings: dict[str, list[int]] = {label: [] for label in calls}
        for item in targets[start : start + size]:
            for label, call in calls.items():
                began = time.perf_counter_ns()
                found = call(item)
                timings[label].append(time.perf_counter_ns() - began)
                assert found is not None and (found.bot_token or "").startswith("xoxb-")
        for label, times in timings.items():
            medians[label].append(statistics.median(times) / 1000)
    return medians


LOOKUPS: dict[str, Callable[[Any], Callable[[Any], Any]]] = {
    "find_bot": lambda s: lambda i: s.find_bot(enterprise_id=None, team_id=i.team_id),
    "find_installation": lambda s: (
        lambda i: s.find_installation(enterprise_id=None, team_id=i.team_id)
    ),
    "find_installation(user_id)": lambda s: (
        lambda i: s.find_installation(enterprise_id=None, team_id=i.team_id, user_id=i.user_id)
    ),
}


def profile(store: Any, targets: list[Any]) -> None:
    """Where our find_installation's time goes (``--profile``): database against Python."""
    from django.db import connection

    from installations.bolt.latest_sql import statement

    lookup = LOOKUPS["find_installation"](store)
    sql = statement(connection.vendor, connection.ops.quote_name, False)

    def run(text: str, params: list[Any] | None = None) -> Any:
        with connection.cursor() as cursor:
            cursor.execute(text, params)
            return cursor.fetchone()

    parts = {
        "the whole lookup (row, instances, decryption, slack_sdk objects)": lookup,
        "its statement alone": lambda item: run(sql, [CLIENT_ID, "", item.team_id]),
        "SELECT 1 (one round trip)": lambda item: run("SELECT 1"),
    }
    timings: dict[str, list[int]] = {label: [] for label in parts}
    for item in targets:  # taking turns, as the stores do
        for label, call in parts.items():
            start = time.perf_counter_ns()
            call(item)
            timings[label].append(time.perf_counter_ns() - start)
    print("find_installation, median us:")
    for label, times in timings.items():
        print(f"  {label:66} {statistics.median(times) / 1000:8.1f}")
    explain = "EXPLAIN ANALYZE " if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN "
    with connection.cursor() as cursor:
        cursor.execute(explain + sql, [CLIENT_ID, "", targets[0].team_id])
        print("plan:\n" + "\n".join("  " + " ".join(map(str, row)) for row in cursor.fetchall()))
    profiler = cProfile.Profile()
    for item in targets[:1000]:
        profiler.runcall(lookup, item)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=3_000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds the lookups are split in")
    parser.add_argument("--quick", action="store_true", help="2,000 workspaces, 1,500 lookups")
    parser.add_argument("--profile", action="store_true", help="our find_installation's parts")
    args = parser.parse_args()
    if args.rounds < 3:
        parser.error("--rounds: at least 3 (a ratio is the median of its rounds)")
    if args.quick:
        args.workspaces, args.lookups = 2_000, 1_500
    url = os.environ.get("BENCH_DATABASE_URL") or None
    database = database_label(setup_django())
    data = installations(args.workspaces)
    stores = {"ours": load_ours(data), "orm": orm_store()}
    if args.profile:
        analyze()
        profile(stores["ours"], random.Random(7).choices(data, k=args.lookups))
        return
    if not url:
        stores["sqlite3"] = load_sqlite3(data)
    stores["sqlalchemy"] = load_sqlalchemy(data, url)
    analyze()
    peers = [label for label in stores if label != "ours"]
    targets = random.Random(7).choices(data, k=args.lookups)
    print(f"{database}: {args.workspaces} workspaces, {args.lookups} lookups each in "
          f"{args.rounds} rounds; median us of the rounds' medians")  # fmt: skip
    print(
        f"{'lookup':28} {'ours':>8} "
        + "".join(f" {peer:>10}" for peer in peers)
        + "".join(f" {'/' + peer:>11}" for peer in peers)
    )
    found = {}
    for name, make in LOOKUPS.items():
        calls = {label: make(store) for label, store in stores.items()}
        found[name] = med = interleaved_medians(calls, targets, args.rounds)
        middle = {label: statistics.median(times) for label, times in med.items()}
        print(
            f"{name:28} {middle['ours']:8.1f}"
            + "".join(f" {middle[peer]:10.1f}" for peer in peers)
            + "".join(f" {middle['ours'] / middle[peer]:10.2f}x" for peer in peers)
        )
    for name, med in found.items():
        record(
            f"store {name}, {database}: our statement / the queryset it replaces",
            "x peer",
            rounds=ratios(med["ours"], med["orm"]),
            target=STATEMENT_TARGETS.get(name),
            direction="at most",
            beside=f"ours {median_of(med['ours'], 'us')}, queryset {median_of(med['orm'], 'us')}",
        )
        for peer in [p for p in peers if p in TARGETS]:
            record(
                f"store {name}, {database}: ours / slack_sdk's {STORE_NAMES[peer]} store",
                "x peer",
                rounds=ratios(med["ours"], med[peer]),
                target=TARGETS[peer],
                direction="at most",
                beside=f"ours {median_of(med['ours'], 'us')}, "
                f"{STORE_NAMES[peer]} {median_of(med[peer], 'us')}",
            )


if __name__ == "__main__":
    main()
