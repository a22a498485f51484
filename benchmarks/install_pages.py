"""CPU per page of the Add to Slack flow, in this process: install page, callback, success page.

Run: BENCH_DATABASE_URL=postgres://... .venv/bin/python benchmarks/install_pages.py
     [--installs 200] [--profile DIR]
Each install walks the flow through Django's test client (every middleware, the real views,
the real database) and the Slack stand-in on loopback (started here, so its work runs in other
threads); the CPU time of the thread running each page is measured (``time.thread_time``), so
neither the stand-in nor waiting on the database counts. No gunicorn: what a page costs on its
own (install_flow.py measures the whole servers under load). ``--profile DIR`` writes a
cProfile on the thread CPU clock per page (``DIR/<page>.prof``) and prints the top of each.
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

from benchmarks.bootstrap import setup_django, start_standin

HREF = re.compile(r'<a class="add-to-slack" href="([^"]+)"')
PAGES = ("install page", "callback", "success page")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--installs", type=int, default=200, help="measured installs")
    parser.add_argument("--profile", metavar="DIR", help="cProfile (thread CPU) per page")
    args = parser.parse_args()
    standin = start_standin(SLACK_REDIRECT_URI="http://127.0.0.1/slack/oauth_redirect")
    try:
        vendor = setup_django()
        from django.test import Client

        client = Client()
        profiles = {page: cProfile.Profile(time.thread_time) for page in PAGES}
        spent: dict[str, list[float]] = {page: [] for page in PAGES}

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
            found = HREF.search(page.content.decode())
            assert page.status_code == 200 and found, page.status_code
            back = urlsplit(standin.approve(unescape(found.group(1)), team_id=team_id))
            target = back.path + "?" + back.query
            answer = timed("callback", lambda: client.get(target), measure)
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
        print(f"  {'all three':>12}: {total:6.2f} (sum of medians)")
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
