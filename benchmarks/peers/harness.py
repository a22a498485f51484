"""Running slackinstall and the Bolt peer side by side: servers, the stand-in, cheap browsers.

How the 2 cores are shared: both contestants run all the time under the project's
``gunicorn.conf.py`` (same workers and threads, WEB_CONCURRENCY / GUNICORN_THREADS apply to
both), but only one is driven at a time, alternately (us, peer, us, peer...), so the idle one
costs nothing and a drift in the machine's load touches both. The Slack stand-in runs in a
process of its own (its CPU is not in the load generator's GIL) and answers both. The load
generator is one process of threads, each with one keep-alive ``http.client`` connection per
server and no HTML parsing beyond one regular expression.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import re
import runpy
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AUTHORIZE_HREF = re.compile(r'href="([^"]*/oauth/v2/authorize\?[^"]*)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def unescape_href(value: str) -> str:
    return value.replace("&amp;", "&").replace("&#x27;", "'").replace("&quot;", '"')


# --- the stand-in, in its own process ------------------------------------------------------------


class StandIn:
    """benchmarks/peers/standin_process.py; ``approve`` is the browser pressing Allow."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "benchmarks/peers/standin_process.py")],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        started = json.loads(self.process.stdout.readline())
        self.url: str = started["url"]
        self.form_key: str = started["form_key"]
        parts = urlsplit(self.url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    @property
    def authorize_url(self) -> str:
        return self.url + "/oauth/v2/authorize"

    def approve(self, authorize_url: str, team_id: str) -> str:
        """POST the authorize form (Allow, for ``team_id``); the callback URL Slack redirects to."""
        form = urlencode(
            {
                "form_key": self.form_key,
                "q": urlsplit(authorize_url).query,
                "decision": "allow",
                "target": "workspace",
                "team_id": team_id,
            }
        )
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.request(
                "POST",
                "/oauth/v2/authorize",
                body=form,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            response = connection.getresponse()
            response.read()
            location = response.getheader("Location")
        finally:
            connection.close()
        if response.status != 302 or not location:
            raise RuntimeError(f"the stand-in refused the authorize form: HTTP {response.status}")
        return location

    def stop(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


# --- the servers ---------------------------------------------------------------------------------


@dataclass
class Contestant:
    name: str  # "slackinstall" or "bolt peer"
    port: int
    env: dict[str, str]
    app: str | None = None  # gunicorn APP_MODULE; None: gunicorn.conf.py's wsgi_app
    config: str = "gunicorn.conf.py"  # or peers/profiled_gunicorn.py (the same, profiled)
    process: subprocess.Popen[bytes] | None = None
    log_path: str = ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def gunicorn_shape(env: dict[str, str]) -> tuple[int, int]:
    """(workers, threads) that gunicorn.conf.py gives under ``env``."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        conf = runpy.run_path(os.path.join(ROOT, "gunicorn.conf.py"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return int(conf["workers"]), int(conf["threads"])


@contextmanager
def serving(contestants: Sequence[Contestant]) -> Iterator[None]:
    """Each contestant under gunicorn with the project's config; all stopped on exit."""
    folder = tempfile.mkdtemp(prefix="slackinstall-bench-contest-")
    try:
        for contestant in contestants:
            contestant.log_path = os.path.join(folder, contestant.name.replace(" ", "-") + ".log")
            args = [os.path.join(ROOT, ".venv/bin/gunicorn"), "--config", contestant.config]
            env = {
                **contestant.env,
                "HOST": "127.0.0.1",
                "PORT": str(contestant.port),
                "PYTHONPATH": ROOT,
            }
            with open(contestant.log_path, "wb") as log:
                contestant.process = subprocess.Popen(
                    args + ([contestant.app] if contestant.app else []),
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        for contestant in contestants:
            _wait_healthy(contestant)
        yield
    finally:
        for contestant in contestants:
            if contestant.process is not None:
                contestant.process.terminate()
        for contestant in contestants:
            if contestant.process is not None:
                contestant.process.wait(timeout=30)


def _wait_healthy(contestant: Contestant) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", contestant.port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                connection.close()
                return
        except OSError:
            pass
        assert contestant.process is not None
        if contestant.process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{contestant.name} did not start; see {contestant.log_path}")
        time.sleep(0.2)


# --- a cheap browser -----------------------------------------------------------------------------


class Browser:
    """One keep-alive connection to one server and the cookies it set (by path, like a browser)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, tuple[str, str]] = {}  # name -> (path, value)

    def request(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, http.client.HTTPResponse, bytes]:
        path = target.split("?", 1)[0]
        sent = dict(headers or {})
        jar = [f"{n}={v}" for n, (p, v) in self.cookies.items() if path.startswith(p)]
        if jar:
            sent["Cookie"] = "; ".join(jar)
        for attempt in (1, 2):
            try:
                self.connection.request(method, target, body=body, headers=sent)
                response = self.connection.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The server closed an idle keep-alive connection (gunicorn's keepalive):
                # what a browser does too, open a new one and send again.
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt == 2:
                    raise
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                self._store(value)
        return response.status, response, data

    def get(self, target: str) -> tuple[int, http.client.HTTPResponse, bytes]:
        return self.request("GET", target)

    def _store(self, header: str) -> None:
        pair, *attributes = [part.strip() for part in header.split(";")]
        name, _, value = pair.partition("=")
        path = "/"
        for attribute in attributes:
            key, _, val = attribute.partition("=")
            if key.lower() == "path" and val:
                path = val
        self.cookies[name] = (path, value)

    def close(self) -> None:
        self.connection.close()


def local_target(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def install_once(browser: Browser, standin: StandIn, team_id: str, *, follow: bool = True) -> float:
    """One whole Add to Slack flow as a browser does it; its wall time in seconds.

    Install page -> (Allow on the stand-in) -> callback -> whatever the callback answers: ours
    redirects to its success page (followed unless ``follow`` is false: then the flow stops at
    the redirect, the two requests Bolt's flow makes), Bolt's renders its success page itself."""
    started = time.perf_counter()
    status, _, page = browser.get("/slack/install")
    found = AUTHORIZE_HREF.search(page.decode())
    if status != 200 or found is None:
        raise RuntimeError(f"install page: HTTP {status}, no authorize link")
    callback = standin.approve(unescape_href(found.group(1)), team_id)
    status, response, body = browser.get(local_target(callback))
    if not follow:
        if status != 302 or "/slack/installed?i=" not in (response.getheader("Location") or ""):
            raise RuntimeError(f"install of {team_id}: HTTP {status}, not the success redirect")
        return time.perf_counter() - started
    if status in (301, 302, 303):
        status, response, body = browser.get(local_target(response.getheader("Location") or ""))
    if status != 200 or team_id.encode() not in body:
        raise RuntimeError(f"install of {team_id} ended at HTTP {status}")
    return time.perf_counter() - started


# --- signed events -------------------------------------------------------------------------------


def signed_event(payload: dict[str, Any], signing_secret: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers Slack sends: a v0 HMAC-SHA256 signature over the timestamp and body
    (docs.slack.dev/authentication/verifying-requests-from-slack)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    base = b"v0:" + timestamp.encode() + b":" + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": "v0=" + digest,
    }
    return body, headers


# --- driving and figures -------------------------------------------------------------------------


def drive(
    users: int, jobs: Sequence[Any], work: Callable[[Browser, Any], float], port: int
) -> tuple[float, list[float]]:
    """``jobs`` spread over ``users`` threads, each with its own Browser; (seconds, latencies)."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    pending = iter(jobs)
    browsers = [Browser(port) for _ in range(users)]

    def run(browser: Browser) -> None:
        while True:
            with lock:
                job = next(pending, None)
            if job is None:
                return
            try:
                took = work(browser, job)
            except Exception as exc:
                with lock:
                    failures.append(f"{type(exc).__name__}: {exc}")
                continue
            with lock:
                latencies.append(took)

    threads = [threading.Thread(target=run, args=(b,)) for b in browsers]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    for browser in browsers:
        browser.close()
    if failures:
        raise SystemExit(f"{len(failures)} of {len(jobs)} failed, e.g. {failures[0]}")
    return elapsed, latencies


def p99(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


@dataclass
class Run:
    contestant: str
    count: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def line(self, label: str) -> str:
        p50 = statistics.median(self.latencies) * 1000
        return (
            f"{self.contestant:>13} {label:>9} {self.count:>6} {self.seconds:>7.2f} "
            f"{self.rate:>8.1f} {p50:>7.1f} {p99(self.latencies) * 1000:>7.1f}"
        )


HEADER = "{:>13} {:>9} {:>6} {:>7} {:>8} {:>7} {:>7}".format(
    "contestant", "run", "count", "seconds", "per s", "p50 ms", "p99 ms"
)


def sqlalchemy_url(django_url: str) -> str:
    """The benchmark database's URL as SQLAlchemy (psycopg 3) spells it."""
    scheme, rest = django_url.split("://", 1)
    if scheme in ("postgres", "postgresql", "pgsql"):
        return "postgresql+psycopg://" + rest
    return django_url


# --- where the CPU goes --------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            return [int(child) for child in listing.read().split()]
    except OSError:
        return []


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_backends(database: str) -> list[int]:
    """PostgreSQL's backend processes serving ``database`` (Linux /proc; [] elsewhere)."""
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    text = cmdline.read()
            except OSError:
                continue
            if text.startswith(b"postgres: ") and f" {database} ".encode() in text:
                found.append(int(entry))
    return found


def cpu_snapshot(contest: Contest) -> dict[str, float]:
    """CPU seconds used so far by each party: both servers (master and workers), the stand-in,
    this load generator, and PostgreSQL's backends for the benchmark database."""
    shares = {"load generator": _cpu_seconds(os.getpid()), "stand-in": 0.0, "postgres": 0.0}
    shares["stand-in"] = _cpu_seconds(contest.standin.process.pid)
    for contestant in contest.contestants:
        assert contestant.process is not None
        pids = [contestant.process.pid, *_children(contestant.process.pid)]
        shares[contestant.name] = sum(_cpu_seconds(pid) for pid in pids)
    if contest.vendor == "postgres":
        database = contest.database_url.rsplit("/", 1)[-1]
        shares["postgres"] = sum(_cpu_seconds(pid) for pid in _postgres_backends(database))
    return shares


def cpu_line(before: dict[str, float], after: dict[str, float], count: int) -> str:
    """CPU ms per unit of work, by party (backends that ended in between are not counted)."""
    spent = {name: (after[name] - before.get(name, 0.0)) * 1000 / count for name in after}
    parts = [f"{name} {ms:.1f}" for name, ms in spent.items() if ms >= 0.05]
    return f"    CPU ms per unit: total {sum(spent.values()):.1f} = " + ", ".join(parts)


# --- one contest: database, stand-in, both servers -----------------------------------------------


@dataclass
class Contest:
    vendor: str  # "postgres" or "sqlite"
    database_url: str  # Django's spelling
    standin: StandIn
    ours: Contestant
    peer: Contestant
    client_id: str
    signing_secret: str

    @property
    def contestants(self) -> tuple[Contestant, Contestant]:
        return self.ours, self.peer


def prepare(*, bolt_app: str = "", peer_stores: str = "sqlalchemy") -> Contest:
    """Fresh database (bootstrap.py), the peer's tables, the stand-in; servers not started yet.

    ``bolt_app``: SLACK_BOLT_APP for our side (the events benchmark). ``peer_stores``: the
    peer's PEER_STORES (bolt_settings.py)."""
    import secrets

    from benchmarks.bootstrap import setup_django
    from benchmarks.peers.peer_stores import reset_tables

    # One worker per core unless WEB_CONCURRENCY says otherwise, for both contestants. The
    # stand-in answers on loopback in about a millisecond, so every request here is CPU-bound,
    # and gunicorn.conf.py's default (2 x cores + 1, for requests that wait on Slack's real
    # round trips) would only add context switches on 2 shared cores.
    os.environ.setdefault("WEB_CONCURRENCY", str(len(os.sched_getaffinity(0))))
    client_id = "1111.2222"
    signing_secret = "fake-" + secrets.token_hex(8)
    client_secret = "fake-" + secrets.token_hex(8)
    slack = {
        "SLACK_CLIENT_ID": client_id,
        "SLACK_CLIENT_SECRET": client_secret,
        "SLACK_SIGNING_SECRET": signing_secret,
    }
    standin = StandIn({**os.environ, **slack})
    ours_port, peer_port = free_port(), free_port()
    slack |= {"SLACK_API_URL": standin.api_url, "SLACK_AUTHORIZE_URL": standin.authorize_url}
    os.environ.update(
        slack,
        SLACK_REDIRECT_URI=f"http://127.0.0.1:{ours_port}/slack/oauth_redirect",
        DJANGO_DEBUG="false",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_LOG_LEVEL="WARNING",
    )
    if bolt_app:
        os.environ["SLACK_BOLT_APP"] = bolt_app
    vendor = setup_django()
    database_url = os.environ["DATABASE_URL"]
    ours = Contestant("slackinstall", ours_port, dict(os.environ))
    peer_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SLACK_", "TOKEN_", "DATABASE_"))
    }
    peer_env.update(
        slack,
        DJANGO_SETTINGS_MODULE="benchmarks.peers.bolt_settings",
        DJANGO_LOG_LEVEL="WARNING",
        PEER_SECRET_KEY=secrets.token_urlsafe(50),
        PEER_DATABASE_URL=sqlalchemy_url(database_url),
        PEER_REDIRECT_URI=f"http://127.0.0.1:{peer_port}/slack/oauth_redirect",
        PEER_STORES=peer_stores,
        PEER_DJANGO_DATABASE_URL=database_url,
    )
    reset_tables(peer_env)
    peer = Contestant(
        "bolt peer", peer_port, peer_env, app="benchmarks.peers.bolt_peer:application"
    )
    return Contest(vendor, database_url, standin, ours, peer, client_id, signing_secret)


PROFILED_CONFIG = "benchmarks/peers/profiled_gunicorn.py"


def profile_workers(contest: Contest, folder: str) -> dict[str, str]:
    """Run both servers under PROFILED_CONFIG, each writing its workers' profiles to a folder
    of its own under ``folder``; {contestant name: that folder}."""
    folders = {}
    for contestant in contest.contestants:
        own = os.path.join(os.path.abspath(folder), contestant.name.replace(" ", "-"))
        os.makedirs(own, exist_ok=True)
        for stale in os.listdir(own):
            if stale.endswith(".prof"):
                os.remove(os.path.join(own, stale))
        contestant.config = PROFILED_CONFIG
        contestant.env["BENCH_PROFILE_DIR"] = own
        folders[contestant.name] = own
    return folders


def print_profiles(
    folders: dict[str, str], counts: dict[str, int], unit: str, lines: int = 45
) -> None:
    """Each server's profile (every worker and thread together), CPU ms per ``unit``, of the
    ``counts[server]`` units it served (warm-up included: it is profiled too)."""
    import pstats

    for name, folder in folders.items():
        files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".prof"))
        if not files:
            print(f"{name}: no profile written (workers did not exit cleanly?)")
            continue
        stats = pstats.Stats(*files)
        total = getattr(stats, "total_tt", 0.0)
        print(
            f"\n=== {name}: {len(files)} thread profiles in {folder}, {total:.2f} s CPU "
            f"under cProfile (~{total * 1000 / counts[name]:.1f} ms per {unit}, profiler "
            "included)"
        )
        stats.sort_stats("cumulative").print_stats(lines)


def describe(contest: Contest) -> str:
    ours_shape = gunicorn_shape(contest.ours.env)
    peer_shape = gunicorn_shape(contest.peer.env)
    assert ours_shape == peer_shape, (ours_shape, peer_shape)
    return (
        f"gunicorn.conf.py ({ours_shape[0]} workers x {ours_shape[1]} threads) for both, "
        f"{contest.vendor}, {os.cpu_count()} cores shared by both servers (one driven at a time), "
        "the stand-in process and this load generator"
    )
