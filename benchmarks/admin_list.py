"""Workspace admin changelist at 1,000 / 10,000 / 100,000 workspaces: queries and server time.

Run: .venv/bin/python benchmarks/admin_list.py [--sizes 1000,10000,100000] [--repeat 5]
     [--quick] [--explain] [--profile]
Through Django's test Client as a superuser: the plain list, the "needs reinstall" filter, a
reason filter and a search; median server time of ``--repeat`` requests per page. Target: the
100k/1k time ratio at most 1.5, and a query count that does not grow with the row count.
``--explain`` prints each page's slowest queries at the largest size with the database's plan;
``--profile`` prints the top cProfile lines of the plain list there. Fake tokens only.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bootstrap import analyze, setup_django

SCOPES, USER_SCOPES = "commands,chat:write", "search:read"
PAGES = {
    "plain list": "",
    "needs reinstall": "?status=needs_reinstall",
    "reason: token dead": "?reason=token_dead",
    "search team id": "?q=T0B00000777",
}
URL = "/admin/installations/workspace/"
BASE = datetime(2024, 1, 1, tzinfo=UTC)


def _workspace(n: int, now: datetime) -> tuple[dict[str, Any], str]:
    """Workspace fields for row ``n`` and its installer's user scopes: a realistic mix."""
    kind = n % 100  # ~17% need a reinstall, one reason each; 1% org-wide; 10% on Grid
    fields: dict[str, Any] = {
        "client_id": "1111.2222",
        "app_id": "A0BENCH",
        "team_id": f"T0B{n:08d}",
        "team_name": f"Bench team {n}",
        "bot_token": f"xoxb-bench-fake-{n}",
        "bot_id": f"B0B{n:08d}",
        "bot_user_id": f"U0BBOT{n:08d}",
        "bot_scopes": SCOPES,
        "installer_user_id": f"U0B{n:08d}",
        "installed_at": BASE + timedelta(seconds=(n * 2654435761) % 50_000_000),
        "health": "ok",
        "last_verified_at": now,
    }
    if kind == 0:
        fields.update(team_id="", team_name="", is_enterprise_install=True)
        fields.update(enterprise_id=f"E0B{n:08d}", enterprise_name=f"Bench org {n}")
    elif kind <= 10:
        fields.update(enterprise_id=f"E0BORG{n % 20:03d}", enterprise_name=f"Org {n % 20}")
    user_scopes = "" if 14 <= kind <= 16 else USER_SCOPES
    if 11 <= kind <= 13:
        fields["bot_scopes"] = "commands"
    elif kind in (17, 18):
        fields.update(uninstalled_at=now, bot_token=None)
    elif kind in (19, 20):
        fields.update(bot_revoked_at=now, bot_token=None)
    elif kind in (21, 22, 23):
        fields.update(health="dead", verify_failures=1, last_error="token_revoked")
    elif kind in (24, 25):
        fields["refresh_failed_at"] = now
    elif kind in (26, 27):
        fields["bot_token_expires_at"] = now - timedelta(hours=1)
    elif 28 <= kind <= 32:
        fields["bot_token_expires_at"] = now + timedelta(hours=6)
        fields["bot_refresh_token"] = f"xoxe-1-bench-fake-{n}"
    return fields, user_scopes


def insert(objs: list[Any]) -> None:
    """INSERT with executemany: the same values bulk_create would write (pre_save, then the
    field's own conversion, so tokens are sealed to their rows), at twice its speed."""
    from django.db import connection, models, transaction

    model = type(objs[0])
    fields = [f for f in model._meta.local_concrete_fields if not isinstance(f, models.AutoField)]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {model._meta.db_table} ({columns}) VALUES ({marks})"
    rows = [
        tuple(f.get_db_prep_save(f.pre_save(o, True), connection) for f in fields) for o in objs
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def load(start: int, stop: int, batch: int = 5000) -> None:
    """Rows ``start``..``stop``: workspaces, history (current + 20% older rows), events."""
    from installations.models import Installation, LifecycleEvent, Workspace

    now = datetime.now(UTC)
    for first in range(start, stop, batch):
        rows, scopes = [], []
        for n in range(first, min(stop, first + batch)):
            fields, user_scopes = _workspace(n, now)
            rows.append(Workspace(**fields))
            scopes.append(user_scopes)
        insert(rows)
        history, events = [], []
        for n, (ws, user_scopes) in enumerate(zip(rows, scopes, strict=True), start=first):
            common = {"workspace": ws, "client_id": ws.client_id, "team_id": ws.team_id}
            common.update(enterprise_id=ws.enterprise_id, user_id=ws.installer_user_id)
            history.append(
                Installation(
                    **common,
                    user_scopes=user_scopes,
                    user_token=f"xoxp-bench-fake-{n}" if n % 10 < 3 else None,
                    installed_at=ws.installed_at,
                )
            )
            events.append(LifecycleEvent(workspace=ws, kind="installed", actor="bench"))
            if n % 5 == 0:
                earlier = ws.installed_at - timedelta(days=30)
                history.append(Installation(**common, is_current=False, installed_at=earlier))
                events.append(LifecycleEvent(workspace=ws, kind="reinstalled", actor="bench"))
        insert(history)
        insert(events)


def measure(client: Any, query: str, repeat: int) -> tuple[int, float, list[dict[str, str]]]:
    """(queries per request, median ms, the last request's captured queries)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, counts, captured = [], [], []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            response = client.get(URL + query)
            times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (query, response.status_code)
        counts.append(len(ctx.captured_queries))
        captured = ctx.captured_queries
    return max(counts), statistics.median(times), captured


def explain(captured: list[dict[str, str]], top: int = 2) -> None:
    from django.db import connection

    prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN ANALYZE "
    for q in sorted(captured, key=lambda q: -float(q["time"]))[:top]:
        print(f"    {float(q['time']) * 1000:7.1f} ms  {q['sql'][:150]}...")
        with connection.cursor() as cursor:
            cursor.execute(prefix + q["sql"])
            for row in cursor.fetchall():
                print("       ", " ".join(str(v) for v in row[-1:]))


def profile(client: Any, query: str) -> None:
    profiler = cProfile.Profile()
    profiler.runcall(client.get, URL + query)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(r"installations|paginator|main\.py", 15)
    stats.sort_stats("tottime").print_stats(12)
    print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="sizes 1000,100000; 3 requests")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    sizes = [1000, 100000] if args.quick else [int(s) for s in args.sizes.split(",")]
    repeat = 3 if args.quick else args.repeat
    import os

    os.environ.setdefault("SLACK_SCOPES", SCOPES)
    os.environ.setdefault("SLACK_USER_SCOPES", USER_SCOPES)
    vendor = setup_django()
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.create_superuser("bench", password=None))
    print(f"Workspace admin changelist on {vendor} (median of {repeat} requests, server time)")
    print(f"{'workspaces':>10} {'page':<20} {'queries':>7} {'ms':>8}  slowest query ms")
    results: dict[tuple[int, str], tuple[int, float]] = {}
    loaded = 0
    for size in sorted(sizes):
        started = time.perf_counter()
        load(loaded, size)
        analyze()  # as store_lookup.py: the statistics a live database has
        loaded = size
        print(f"{'':>10} (loaded {size} workspaces in {time.perf_counter() - started:.0f} s)")
        # The status counts above the list are cached for a minute: start each size with this
        # size's counts in the cache (as every request but one a minute sees them), timed apart.
        cache.clear()
        started = time.perf_counter()
        client.get(URL)  # also warms templates and the first connection
        print(f"{'':>10} (first page with the status counts computed: "
              f"{(time.perf_counter() - started) * 1000:.0f} ms)")  # fmt: skip
        for name, query in PAGES.items():
            count, ms, captured = measure(client, query, repeat)
            results[size, name] = count, ms
            slowest = max(float(q["time"]) for q in captured) * 1000
            print(f"{size:>10} {name:<20} {count:>7} {ms:>8.1f}  {slowest:.1f}")
            if args.explain and size == max(sizes):
                explain(captured)
        if args.profile and size == max(sizes):
            profile(client, "")
    small, large = min(sizes), max(sizes)
    if small != large:
        ratio = f"{large}/{small} time"
        print(f"\n{'page':<20} {ratio:>14} {'queries grow':>13}  (target: <= 1.5, no)")
        for name in PAGES:
            (c1, t1), (c2, t2) = results[small, name], results[large, name]
            print(f"{name:<20} {t2 / t1:>14.2f} {('yes' if c2 > c1 else 'no'):>13}")


if __name__ == "__main__":
    main()
