"""Smoke test of production serving: gunicorn with gunicorn.conf.py on loopback, PostgreSQL,
DJANGO_DEBUG off, SSL redirect on, the whole install flow over HTTP against the stand-in.

The test client plays a browser behind a TLS-terminating proxy: it sends X-Forwarded-Proto:
https on every request and returns Secure cookies, as a browser does over https.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection

from installations.models import Workspace
from slackstandin import SlackStandIn
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
METRICS_TOKEN = "fake-metrics-token-" + os.urandom(12).hex()
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def live_database_url() -> str:
    """The test database pytest-django created, as a DATABASE_URL for another process."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{quote(db['NAME'], safe='')}"


class BehindTlsProxy(http.cookiejar.DefaultCookiePolicy):
    """The browser talks https to the proxy: Secure cookies go back to it."""

    def return_ok_secure(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return True


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def opener(
    *, follow: bool = True, jar: http.cookiejar.CookieJar | None = None
) -> urllib.request.OpenerDirector:
    if jar is None:
        jar = http.cookiejar.CookieJar(policy=BehindTlsProxy())
    handlers: list[Any] = [urllib.request.HTTPCookieProcessor(jar)]
    if not follow:
        handlers.append(NoRedirect())
    return urllib.request.build_opener(*handlers)


def get(
    browser: urllib.request.OpenerDirector, url: str, *, https: bool = True
) -> tuple[int, str, str]:
    """(status, final URL, body) for a GET, with the proxy's header unless told otherwise."""
    assert url.startswith("http://127.0.0.1:"), url  # loopback only
    headers = {"X-Forwarded-Proto": "https"} if https else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (checked above)
    try:
        with browser.open(request, timeout=20) as response:
            return response.status, response.url, response.read().decode()
    except urllib.error.HTTPError as exc:  # 3xx when not following, 4xx, 5xx
        return exc.code, exc.headers.get("Location", ""), exc.read().decode()


@pytest.fixture
def gunicorn(standin: SlackStandIn, settings: Any, tmp_path: Path, redis_url: str) -> Any:
    """gunicorn as production runs it: two workers sharing one Redis cache (CACHE_URL)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SLACK_"))}
    env.update(
        {
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": os.urandom(40).hex(),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
            "DATABASE_URL": live_database_url(),
            "TOKEN_ENCRYPTION_KEYS": settings.TOKEN_ENCRYPTION_KEYS,
            "SLACK_CLIENT_ID": settings.SLACK_CLIENT_ID,
            "SLACK_CLIENT_SECRET": settings.SLACK_CLIENT_SECRET,
            "SLACK_SIGNING_SECRET": settings.SLACK_SIGNING_SECRET,
            "SLACK_API_URL": standin.api_url,
            "SLACK_AUTHORIZE_URL": standin.authorize_url,
            "SLACK_REDIRECT_URI": base + "/slack/oauth_redirect",  # http allowed on loopback
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WEB_CONCURRENCY": "2",
            "CACHE_URL": redis_url,  # per-process caches would each keep their own counts
            "METRICS_TOKEN": METRICS_TOKEN,
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        }
    )
    log = (tmp_path / "gunicorn.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = type("Server", (), {"url": base, "process": process, "log": log})()
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, Path(log.name).read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start listening in 60 s"
                time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            process.kill()  # only if the test did not stop it itself
            process.wait(10)
        log.close()


def test_install_flow_healthz_and_clean_stop_under_gunicorn(
    gunicorn: Any, standin: SlackStandIn
) -> None:
    browser = opener()

    status, _, html = get(browser, gunicorn.url + "/slack/install")
    assert status == 200, html
    match = re.search(r'class="add-to-slack" href="([^"]+)"', html)
    assert match, html
    authorize_url = unescape(match.group(1))
    assert authorize_url.startswith(standin.authorize_url)

    callback = standin.approve(authorize_url)  # the user clicks Allow on Slack
    code_match = re.search(r"[?&]code=([^&]+)", callback)
    assert code_match, callback
    code = code_match.group(1)
    assert callback.startswith(gunicorn.url + "/slack/oauth_redirect?")
    status, landed, html = get(browser, callback)
    assert status == 200, html
    assert "/slack/installed?" in landed
    assert "The app is installed in Stand-in Workspace" in html

    workspace = Workspace.objects.get(team_id="T0STANDIN1")
    assert workspace.bot_token == standin.issued[-1]["access_token"]

    status, _, body = get(browser, gunicorn.url + "/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    status, _, css = get(browser, gunicorn.url + "/static/admin/css/base.css")
    assert status == 200 and "--body-fg" in css  # the admin's own stylesheet, via whitenoise

    # Without the proxy's header: redirected to https, never served over plain http.
    status, location, _ = get(opener(follow=False), gunicorn.url + "/healthz", https=False)
    assert (status, location) == (301, gunicorn.url.replace("http:", "https:") + "/healthz")

    started = time.monotonic()
    gunicorn.process.send_signal(signal.SIGTERM)
    assert gunicorn.process.wait(15) == 0
    assert time.monotonic() - started < 10

    gunicorn.log.seek(0)
    output = gunicorn.log.read()
    entries = [json.loads(line) for line in output.splitlines()]  # JSON lines only
    access = [e["message"] for e in entries if e["logger"] == "gunicorn.access"]
    assert any('"GET /slack/oauth_redirect HTTP/1.1" 302' in line for line in access), access
    assert code not in output and "code=" not in output and "state=" not in output
    assert standin.issued[-1]["access_token"] not in output


def scrape(url: str, token: str | None = METRICS_TOKEN) -> tuple[int, str]:
    headers = {"X-Forwarded-Proto": "https"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    assert url.startswith("http://127.0.0.1:"), url
    request = urllib.request.Request(url + "/metrics", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def installs_ok(text: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "slackinstall_installs_total" and sample.labels == {
                "outcome": "ok",
                "reason": "ok",
            }:
                return sample.value
    return 0.0


def test_metrics_count_an_install_across_gunicorn_workers(
    gunicorn: Any, standin: SlackStandIn, tmp_path: Path
) -> None:
    assert scrape(gunicorn.url, token=None)[0] == 401
    assert scrape(gunicorn.url, token="wrong-" + METRICS_TOKEN)[0] == 403
    status, before = scrape(gunicorn.url)
    assert status == 200 and installs_ok(before) == 0

    browser = opener()
    _, _, html = get(browser, gunicorn.url + "/slack/install")
    href = re.search(r'class="add-to-slack" href="([^"]+)"', html)
    assert href, html
    status, landed, _ = get(browser, standin.approve(unescape(href.group(1))))
    assert status == 200 and "/slack/installed?" in landed

    # Each scrape may reach either worker: every one of them must count the install once.
    scrapes = [scrape(gunicorn.url) for _ in range(8)]
    assert all(status == 200 for status, _ in scrapes)
    assert [installs_ok(text) for _, text in scrapes] == [1.0] * 8
    workers = {p.name for p in (tmp_path / "metrics").glob("*.db")}
    assert len({name.rsplit("_", 1)[-1] for name in workers}) >= 2, workers
    text = scrapes[-1][1]
    assert "T0STANDIN1" not in text and "Stand-in Workspace" not in text
    assert 'slackinstall_slack_api_calls_total{method="oauth.v2.access",outcome="ok"}' in text
    assert 'slackinstall_workspaces{status="active"} 1.0' in text
    promtool = shutil.which("promtool")
    if promtool is None:
        assert not os.environ.get("CI"), "CI installs Debian's prometheus for promtool"
        return
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    # promtool's linter may suggest names; a parse error is a non-zero exit with "error".
    assert "error" not in (checked.stdout + checked.stderr).lower(), checked
