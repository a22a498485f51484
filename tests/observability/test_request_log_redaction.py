"""Every log line that can carry a query string masks the OAuth ``code`` and ``state``
(docs/security.md, "What is logged"): runserver's request log (``django.server``), gunicorn's
access log (gunicorn.conf.py), and the app's own logging, each through the real server."""

from __future__ import annotations

import io
import logging
import os
import secrets
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from installations.observability.redaction import RedactSecretsFilter, redact
from tests.support.servers import free_port, serving

ROOT = Path(__file__).resolve().parents[2]


def fresh_query() -> tuple[str, str, str]:
    """A callback query with a fresh code and state, as Slack would send them."""
    code = f"{secrets.randbelow(10**12)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
    state = secrets.token_urlsafe(32)
    return f"code={code}&state={state}", code, state


def server_env(tmp_path: Path, port: int) -> dict[str, str]:
    """Production settings (DJANGO_DEBUG off) on a SQLite file of the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SLACK_"))}
    env.pop("DATABASE_URL", None)
    env.update(
        {
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
            "DJANGO_LOG_FORMAT": "plain",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "TOKEN_ENCRYPTION_KEYS": os.environ["TOKEN_ENCRYPTION_KEYS"],
            "SLACK_CLIENT_ID": os.environ["SLACK_CLIENT_ID"],
            "SLACK_CLIENT_SECRET": os.environ["SLACK_CLIENT_SECRET"],
            "SLACK_SIGNING_SECRET": os.environ["SLACK_SIGNING_SECRET"],
            "SLACK_REDIRECT_URI": f"http://127.0.0.1:{port}/slack/oauth_redirect",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WEB_CONCURRENCY": "1",
        }
    )
    return env


def visit(url: str) -> int:
    assert url.startswith("http://127.0.0.1:")
    try:
        with urllib.request.urlopen(url, timeout=20) as response:  # noqa: S310 (loopback)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["manage.py", "runserver", "--noreload"], id="runserver"),
        pytest.param(["-m", "gunicorn", "--config", "gunicorn.conf.py"], id="gunicorn"),
    ],
)
def test_a_real_servers_log_never_holds_the_code_or_state(
    tmp_path: Path, command: list[str]
) -> None:
    port = free_port()
    argv = [sys.executable, *command]
    if "runserver" in command:
        argv.append(f"127.0.0.1:{port}")
    log = tmp_path / "server.log"
    query, code, state = fresh_query()
    with serving(argv, port=port, env=server_env(tmp_path, port), cwd=ROOT, log=log) as process:
        assert visit(f"http://127.0.0.1:{port}/slack/oauth_redirect?{query}") == 400
        assert visit(f"http://127.0.0.1:{port}/slack/signin/callback?{query}") in (302, 400, 404)
        process.terminate()
        process.wait(15)
    output = log.read_text()
    assert "/slack/oauth_redirect" in output  # the request was logged
    assert code not in output and state not in output
    assert code[-12:] not in output and state[-12:] not in output


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the settings' console handler (LOGGING) writes, filter and format as configured."""
    handler = logging.getLogger("django.server").handlers[0]
    assert any(isinstance(f, RedactSecretsFilter) for f in handler.filters)
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def test_the_apps_own_log_lines_mask_them(client: Any, db: None, console: io.StringIO) -> None:
    """Our loggers and Django's (django.request, django.server) through the configured handler."""
    query, code, state = fresh_query()
    client.get(f"/slack/oauth_redirect?{query}", secure=True)
    logging.getLogger("django.server").info('"GET /slack/oauth_redirect?%s HTTP/1.1" 400 0', query)
    logging.getLogger("installations").warning("callback with %s", query)
    output = console.getvalue()
    assert "oauth_redirect" in output
    assert code not in output and state not in output


URLSAFE = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~%")


@given(code=URLSAFE.filter(lambda v: len(v) >= 8), state=URLSAFE.filter(lambda v: len(v) >= 8))
def test_any_callback_request_line_is_masked(code: str, state: str) -> None:
    line = f'"GET /slack/oauth_redirect?code={code}&state={state} HTTP/1.1" 302 0'
    masked = redact(line)
    assert f"code={code}" not in masked and f"state={state}" not in masked
    assert "code=[redacted]&state=[redacted]" in masked


def test_secret_names_are_found_whatever_their_letter_case() -> None:
    """IGNORECASE matches U+017F (long s) to "s" and U+212A (Kelvin) to "k" too."""
    for line in (
        "CLIENT_SECRET=plain-value",
        "client_\u017fecret=plain-value",
        "to\u212aen=plain-value",
    ):
        assert "plain-value" not in redact(line)
    assert "xoxb-1-2" not in redact("token xoxb-1-2-abc")
    line = '127.0.0.1 "GET /slack/installed HTTP/1.1" 302 0'
    assert redact(line) == line
