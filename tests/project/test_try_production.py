"""`make try-production`: production mode over https on this machine, against the stand-in, with
its own data apart from development's, followed as the README tells a newcomer."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from html import unescape
from pathlib import Path

from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def wait_for(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        assert process.poll() is None, log.read_text()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)


def test_try_production_serves_https_with_its_own_data(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make try-production" in readme
    trial = tmp_path / "trial"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SLACK_"))}
    env.update({"TRY_PRODUCTION_DIR": str(trial), "PORT": str(port), "SLACK_STANDIN_PORT": "0"})
    dev_db = ROOT / "db.sqlite3"
    dev_before = dev_db.stat().st_mtime_ns if dev_db.exists() else None
    log = tmp_path / "try.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "slackstandin.try_production"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(port, process, log)
        context = ssl.create_default_context(cafile=str(trial / "cert.pem"))
        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context), urllib.request.HTTPCookieProcessor(jar)
        )
        base = f"https://127.0.0.1:{port}"
        with browser.open(base + "/slack/install", timeout=20) as page:
            html = page.read().decode()
            assert page.headers["Strict-Transport-Security"].startswith("max-age=")
        href = re.search(r'class="add-to-slack" href="([^"]+)"', html)
        assert href, html
        authorize = unescape(href.group(1))
        assert authorize.startswith("http://127.0.0.1:")  # the stand-in, never slack.com
        with browser.open(authorize, timeout=20) as consent:
            form = dict(HIDDEN.findall(consent.read().decode()))
        form = {k: unescape(v) for k, v in form.items()}
        form.update({"decision": "allow", "target": "workspace", "team_id": "T0TRIAL001"})
        standin = authorize.split("/oauth/")[0]
        with browser.open(
            standin + "/oauth/v2/authorize", urllib.parse.urlencode(form).encode(), timeout=20
        ) as landed:
            assert landed.url.startswith(base + "/slack/installed?"), landed.url
            assert "T0TRIAL001" not in landed.url
        assert any(cookie.secure for cookie in jar)
        assert (trial / "db.sqlite3").is_file() and (trial / "secrets.json").is_file()
        assert (trial / "secrets.json").stat().st_mode & 0o077 == 0
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    assert (dev_db.stat().st_mtime_ns if dev_db.exists() else None) == dev_before
    assert "Production mode (DJANGO_DEBUG off)" in log.read_text()
