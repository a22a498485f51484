"""CPU per page of the Add to Slack flow, in this process: install page, callback, success page.

Run: BENCH_DATABASE_URL=postgres://... .venv/bin/python benchmarks/install_pages.py
     [--installs 200] [--profile DIR] [--peer sqlalchemy|django]
Each install walks the flow through Django's test client (every middleware, the real views,
the real database) and the Slack stand-in on loopback (started here, so its work runs in other
threads); the CPU time of the thread running each page is measured (``time.thread_time``), so
neither the stand-in nor waiting on the database counts. No gunicorn: what a page costs on its
own (install_flow.py measures the whole servers under load). ``--profile DIR`` writes a
cProfile on the thread CPU clock per page (``DIR/<page>.prof``) and prints the top of each.
``--peer sqlalchemy|django`` measures the Bolt peer's two pages the same way instead
(benchmarks/peers/bolt_peer.py with those stores, Django set up with its settings).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bootstrap import bench_database_url, setup_django, start_standin

HREF = re.compile(r'<a class="add-to-slack" href="([^"]+)"')
PEER_HREF = re.compile(r'href="([^"]*/oauth/v2/authorize\?[^"]*)"')
PAGES = ("install page", "callback", "success page")
REDIRECT_URI = "http://127.0.0.1/slack/oauth_redirect"


def setup_peer(stores: str) -> str:
    """Django set up as the Bolt peer (bolt_settings.py) with ``stores``, its tables anew."""
    import secrets

    import django

    from benchmarks.peers.harness import sqlalchemy_url
    from benchmarks.peers.peer_stores import reset_tables

    url = bench_database_url()
    os.environ.update(
        DJANGO_SETTINGS_MODULE="benchmarks.peers.bolt_settings",
        SLACK_SIGNING_SECRET="fake-" + secrets.token_hex(8),
        PEER_SECRET_KEY=secrets.token_urlsafe(50),
        PEER_DATABASE_URL=sqlalchemy_url(url),
        PEER_DJANGO_DATABASE_URL=url,
        PEER_REDIRECT_URI=REDIRECT_URI,
        PEER_STORES=stores,
    )
    reset_tables(os.environ)
    django.setup()
    return f"Bolt peer ({stores} stores), " + url.split("://", 1)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--installs", type=int, default=200, help="measured installs")
    parser.add_argument("--profile", metavar="DIR", help="cProfile (thread CPU) per page")
    parser.add_argument("--peer", choices=("sqlalchemy", "django"), help="the Bolt peer's pages")
    args = parser.parse_args()
    standin = start_standin(SLACK_REDIRECT_URI=REDIRECT_URI)
    try:
        vendor = setup_peer(args.peer) if args.peer else setup_django()
        from django.test import Client

        client = Client(HTTP_HOST="127.0.0.1")
        pages = PAGES[:2] if args.peer else PAGES  # Bolt's callback renders its own success
        profiles = {page: cProfile.Profile(time.thread_time) for page in pages}
        spent: dict[str, list[float]] = {page: [] for page in pages}

        def timed(page: str, request: Callable[[], Any], measure: bool) -> Any:
            if not measure:
                return request()
            profile = profiles[page] if args.profile else None
            started = time.thread_time()
            if profile:
                profile.enable()
            response = request()
            if profile:
                profile.disable()
            spent[page].append(time.thread_time() - started)
            return response

        def install(team_id: str, measure: bool) -> None:
            page = timed("install page", lambda: client.get("/slack/install"), measure)
            found = (PEER_HREF if args.peer else HREF).search(page.content.decode())
            assert page.status_code == 200 and found, page.status_code
            back = urlsplit(standin.approve(unescape(found.group(1)), team_id=team_id))
            target = back.path + "?" + back.query
            answer = timed("callback", lambda: client.get(target), measure)
            if args.peer:
                assert answer.status_code == 200 and team_id.encode() in answer.content
                return
            assert answer.status_code == 302, answer.content[:300]
            success = timed("success page", lambda: client.get(answer["Location"]), measure)
            assert success.status_code == 200 and team_id.encode() in success.content

        for number in range(30):  # warm-up: imports, caches, connections
            install(f"TP{number:07d}W", measure=False)
        for number in range(args.installs):
            install(f"TP{number:07d}M", measure=True)
        print(f"CPU ms per page, {vendor}, {args.installs} installs (median / p10 / mean):")
        for page, values in spent.items():
            ordered = sorted(values)
            print(
                f"  {page:>12}: {statistics.median(ordered) * 1000:6.2f} "
                f"{ordered[len(ordered) // 10] * 1000:6.2f} {statistics.mean(ordered) * 1000:6.2f}"
            )
        total = sum(statistics.median(values) for values in spent.values()) * 1000
        print(f"  {'all pages':>12}: {total:6.2f} (sum of medians)")
        if args.profile:
            import pstats

            os.makedirs(args.profile, exist_ok=True)
            for page, profile in profiles.items():
                path = os.path.join(args.profile, page.replace(" ", "-") + ".prof")
                profile.dump_stats(path)
                print(f"\n=== {page} ({path})")
                pstats.Stats(path).sort_stats("cumulative").print_stats(35)
    finally:
        standin.stop()


if __name__ == "__main__":
    main()
