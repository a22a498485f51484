"""Install throughput: the whole Add to Slack flow over HTTP against gunicorn and the stand-in.

Run: BENCH_DATABASE_URL=postgres://... .venv/bin/python benchmarks/install_flow.py
     [--installs 100,400] [--quick]
Starts gunicorn (gunicorn.conf.py, DJANGO_DEBUG off) on a free loopback port and the Slack
stand-in in this process. Each install: GET /slack/install (state cookie) -> approve on the
stand-in with a new team id -> GET /slack/oauth_redirect with the cookie -> redirect to the
success page. Prints installs/s and p50/p99 latency of a whole install with 1 and 8 concurrent
users (threads with their own cookie jars). Without BENCH_DATABASE_URL it runs on SQLite.
The load generator and the stand-in share this machine's cores with gunicorn.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import runpy
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.cookiejar import CookieJar
from typing import TYPE_CHECKING

from bootstrap import ROOT, setup_django, start_standin

if TYPE_CHECKING:
    from slackstandin import SlackStandIn

CLIENT_ID = "1111.2222"
AUTHORIZE_LINK = re.compile(r'class="add-to-slack" href="([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(port: int, log_path: str) -> Iterator[subprocess.Popen[bytes]]:
    """gunicorn with the project's config on 127.0.0.1:port; stopped (SIGTERM) on exit."""
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "DJANGO_LOG_LEVEL": "WARNING"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "--config", "gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn did not start; see {log_path}") from None
                time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


class User:
    """One browser: its own cookie jar, following redirects like a browser does."""

    def __init__(self, base: str, standin: SlackStandIn) -> None:
        self.base, self.standin = base, standin
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def install(self, team_id: str) -> float:
        """One whole install; returns its wall time in seconds (raises on any failure)."""
        started = time.perf_counter()
        with self.opener.open(self.base + "/slack/install", timeout=30) as response:
            page = response.read().decode()
        authorize_url = html.unescape(AUTHORIZE_LINK.search(page).group(1))  # type: ignore[union-attr]
        callback = self.standin.approve(authorize_url, team_id=team_id)
        with self.opener.open(callback, timeout=60) as response:
            body = response.read().decode()
            if response.status != 200 or "/slack/installed" not in response.url:
                raise RuntimeError(f"install of {team_id} ended at HTTP {response.status}")
        if team_id not in body:
            raise RuntimeError(f"the success page does not name {team_id}")
        return time.perf_counter() - started


def drive(base: str, standin: SlackStandIn, users: int, installs: int, tag: str) -> list[float]:
    """``installs`` installs spread over ``users`` threads; the latency of each, in seconds."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    team_ids = iter(f"T{tag}{n:07d}" for n in range(installs))

    def work() -> None:
        user = User(base, standin)
        while True:
            with lock:
                team_id = next(team_ids, None)
            if team_id is None:
                return
            try:
                took = user.install(team_id)
            except Exception as exc:
                with lock:
                    failures.append(f"{type(exc).__name__}: {exc}")
                continue
            with lock:
                latencies.append(took)

    threads = [threading.Thread(target=work) for _ in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"{len(failures)} installs failed, e.g. {failures[0]}")
    return latencies


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--installs", default="100,400", help="installs with 1 and 8 users")
    parser.add_argument("--quick", action="store_true", help="30 and 120 installs")
    args = parser.parse_args()
    single, eight = (30, 120) if args.quick else (int(n) for n in args.installs.split(","))
    port = free_port()
    standin = start_standin(
        CLIENT_ID,
        SLACK_REDIRECT_URI=f"http://127.0.0.1:{port}/slack/oauth_redirect",
        DJANGO_DEBUG="false",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
    )
    vendor = setup_django()
    from installations.models import Workspace

    base = f"http://127.0.0.1:{port}"
    log_path = os.path.join(tempfile.mkdtemp(prefix="slackinstall-bench-gunicorn-"), "gunicorn.log")
    with gunicorn(port, log_path):
        drive(base, standin, 8, 16, "W")  # warm every worker before timing
        conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
        print(
            f"Install flow over HTTP: gunicorn ({conf['workers']} workers x {conf['threads']} "
            f"threads) on {vendor}, {os.cpu_count()} cores shared with the load generator"
        )
        head = ("users", "installs", "seconds", "installs/s", "p50 ms", "p99 ms")
        print("{:>5} {:>8} {:>8} {:>10} {:>8} {:>8}".format(*head))
        for users, count, tag in ((1, single, "A"), (8, eight, "B")):
            started = time.perf_counter()
            latencies = drive(base, standin, users, count, tag)
            elapsed = time.perf_counter() - started
            p50 = statistics.median(latencies) * 1000
            print(
                f"{users:>5} {count:>8} {elapsed:>8.1f} {count / elapsed:>10.1f} "
                f"{p50:>8.0f} {p99(latencies) * 1000:>8.0f}"
            )
    stored = Workspace.objects.count()
    assert stored == 16 + single + eight, (stored, 16 + single + eight)
    print(f"(workspaces stored: {stored}, all distinct teams)")
    standin.stop()


if __name__ == "__main__":
    main()
