"""Production settings in a fresh process, as `make serve` runs them.

Each test starts manage.py with DJANGO_DEBUG off and strong dummy secrets; nothing from the test
environment's DJANGO_*/SLACK_* variables leaks in (the SSL redirect is on, as in production).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import override_settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from installations import checks
from installations.encryption.keyring import generate_key_entry

ROOT = Path(__file__).resolve().parents[2]


def production_env(tmp_path: Path, **changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SLACK_"))}
    env.update(
        {
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": os.urandom(40).hex(),
            "TOKEN_ENCRYPTION_KEYS": generate_key_entry("prod1"),
            "SLACK_CLIENT_ID": "1111.2222",
            "SLACK_CLIENT_SECRET": os.urandom(16).hex(),
            "SLACK_SIGNING_SECRET": os.urandom(16).hex(),
            "SLACK_REDIRECT_URI": "https://install.example.com/slack/oauth_redirect",
            "DJANGO_ALLOWED_HOSTS": "install.example.com",
            "DJANGO_CSRF_TRUSTED_ORIGINS": "https://install.example.com",
            "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        }
    )
    env.update(changes)
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error::UserWarning", "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_finds_nothing_under_production_settings(tmp_path: Path) -> None:
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.fullmatch(r"System check identified no issues \(\d+ silenced\)\.\n", result.stdout)
    assert result.stderr == ""


FINDINGS = (
    "from django.conf import settings\n"
    "from django.core import checks\n"
    "found = sorted({m.id for m in checks.run_checks(include_deployment_checks=True)"
    " if m.level >= checks.WARNING})\n"
    "print(found, sorted(settings.SILENCED_SYSTEM_CHECKS))\n"
)


def test_the_silenced_checks_are_exactly_what_would_fire_and_each_says_why(
    tmp_path: Path,
) -> None:
    result = manage(production_env(tmp_path), "shell", "--no-imports", "-c", FINDINGS)
    assert result.returncode == 0, result.stderr
    found, silenced = result.stdout.strip().rsplit("] [", 1)
    assert found + "]" == "[" + silenced, result.stdout  # nothing hidden that is not firing

    source = (ROOT / "slackinstall" / "settings.py").read_text()
    block = source.split("SILENCED_SYSTEM_CHECKS = [", 1)[1].split("]", 1)[0]
    lines = [line.strip() for line in block.strip().splitlines()]
    entries = [line for line in lines if line.startswith('"')]
    assert entries
    for entry in entries:
        check_id = entry.strip('",')
        comment = lines[lines.index(entry) - 1]
        assert comment.startswith("#") and check_id.split(".")[1] in comment, entry


@pytest.mark.parametrize(
    ("changes", "warning"),
    [
        ({"DJANGO_HSTS_SECONDS": "0"}, "security.W004"),
        ({"DJANGO_SECURE_SSL_REDIRECT": "false"}, "security.W008"),
        ({"DJANGO_SECURE_COOKIES": "false"}, "security.W012"),
        ({"DJANGO_SECRET_KEY": "short-" + "a" * 10}, "security.W009"),
    ],
)
def test_weakening_a_setting_fails_the_deploy_check(
    tmp_path: Path, changes: dict[str, str], warning: str
) -> None:
    env = production_env(tmp_path, **changes)
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 1
    assert f"({warning})" in result.stderr + result.stdout


LOG_SOMETHING = (
    "import logging\n"
    "log = logging.getLogger('installations.demo')\n"
    "log.info('saved team=%s', 'T0DEMO')\n"
    "log.warning('leaked %s', 'xoxb-1234-5678-' + 'abcdef')\n"
    "try:\n"
    "    raise ValueError('refresh xoxe-1-' + 'zzzz')\n"
    "except ValueError:\n"
    "    log.exception('refresh failed')\n"
)


def test_logs_are_json_lines_on_stdout_through_the_redaction_filter(tmp_path: Path) -> None:
    result = manage(production_env(tmp_path), "shell", "--no-imports", "-c", LOG_SOMETHING)
    assert result.returncode == 0, result.stderr
    entries = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(e["level"], e["logger"]) for e in entries] == [
        ("INFO", "installations.demo"),
        ("WARNING", "installations.demo"),
        ("ERROR", "installations.demo"),
    ]
    assert entries[0]["message"] == "saved team=T0DEMO"
    assert entries[1]["message"] == "leaked [redacted]"
    assert "ValueError: refresh [redacted]" in entries[2]["exception"]
    assert "xoxb-1234" not in result.stdout and "xoxe-1-zzzz" not in result.stdout
    assert result.stderr == ""


SERVE_CSS = (
    "from django.test import Client\n"
    "r = Client().get('/static/admin/css/base.css', secure=True,"
    " headers={'Host': 'install.example.com', 'Accept-Encoding': 'gzip'})\n"
    "print(r.status_code, r.get('Content-Encoding', 'identity'))\n"
)


def test_admin_static_files_are_served_before_and_after_collectstatic(tmp_path: Path) -> None:
    # A fresh checkout (no STATIC_ROOT yet): served from the apps, and no "No directory" warning
    # (UserWarnings are errors in these subprocesses).
    env = production_env(tmp_path)
    before = manage(env, "shell", "--no-imports", "-c", SERVE_CSS)
    assert before.returncode == 0, before.stderr
    assert before.stdout.split() == ["200", "identity"]

    collected = manage(env, "collectstatic", "--noinput")
    assert collected.returncode == 0, collected.stderr
    assert (tmp_path / "static" / "admin" / "css" / "base.css.gz").is_file()

    after = manage(env, "shell", "--no-imports", "-c", SERVE_CSS)
    assert after.returncode == 0, after.stderr
    assert after.stdout.split() == ["200", "gzip"]  # the compressed copy collectstatic made


def test_the_documented_proxy_overwrites_the_scheme_header() -> None:
    """Django reads ``X-Forwarded-Proto: https, http`` as https: the proxy config
    we hand operators must set the header from its own scheme, never pass a client's on."""
    doc = (ROOT / "docs" / "production.md").read_text()
    nginx = doc.split("```nginx", 1)[1].split("```", 1)[0]
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in nginx
    assert "$http_x_forwarded_proto" not in nginx
    assert "proxy_pass http://127.0.0.1:8000;" in nginx  # gunicorn.conf.py's default bind


# --- plain http:// URLs with DEBUG off (installations.W011, a host project's check --deploy) ------

HTTPS_URLS = {name: "https://install.example.com/slack/x" for name in checks.SECRET_BEARING_URLS}


@pytest.mark.parametrize("name", checks.SECRET_BEARING_URLS)
def test_a_plain_http_url_is_a_deploy_warning_naming_it(settings: Any, name: str) -> None:
    settings.DEBUG = False
    for other, value in HTTPS_URLS.items():
        setattr(settings, other, value)
    assert checks.check_https_urls() == []
    setattr(settings, name, "HTTP://install.example.com/slack/oauth_redirect")
    found = checks.check_https_urls()
    assert [(w.id, w.msg.split(" ")[0]) for w in found] == [("installations.W011", name)]
    assert f"Set {name} to its https:// URL" in (found[0].hint or "")
    assert "docs/" not in (found[0].hint or "")


def test_loopback_and_debug_are_not_warned(settings: Any) -> None:
    settings.DEBUG = False
    for name in checks.SECRET_BEARING_URLS:
        setattr(settings, name, "http://127.0.0.1:8001/api/")
    assert checks.check_https_urls() == []
    settings.SLACK_API_URL = "http://[::1]:8001/api/"
    settings.SLACK_AUTHORIZE_URL = "http://localhost/oauth/v2/authorize"
    assert checks.check_https_urls() == []
    settings.DEBUG = True
    settings.SLACK_REDIRECT_URI = "http://install.example.com/slack/oauth_redirect"
    assert checks.check_https_urls() == []


@hypothesis_settings(max_examples=200, deadline=None)
@given(value=st.text(max_size=80) | st.builds("http://{}/x".format, st.text(max_size=40)))
def test_any_redirect_uri_value_gives_a_verdict_never_an_exception(value: str) -> None:
    with override_settings(DEBUG=False, SLACK_REDIRECT_URI=value, **{
        name: "" for name in checks.SECRET_BEARING_URLS if name != "SLACK_REDIRECT_URI"
    }):  # fmt: skip
        found = checks.check_https_urls()
    try:
        parts = urlsplit(value.strip())
        plain = parts.scheme.lower() == "http" and parts.hostname not in checks.LOOPBACK_HOSTS
    except ValueError:
        plain = False
    assert [w.id for w in found] == (["installations.W011"] if plain else [])


def test_required_setting_hints_name_what_to_set_not_a_repository_path(settings: Any) -> None:
    from installations.conf import REQUIRED_SETTINGS

    settings.CONFIGURATION_PROBLEMS = []
    for name in REQUIRED_SETTINGS:
        setattr(settings, name, "")
    errors = checks.check_required_settings()
    assert [e.id for e in errors] == ["installations.E010"] * len(REQUIRED_SETTINGS)
    for name, error in zip(REQUIRED_SETTINGS, errors, strict=True):
        assert (error.hint or "").startswith(f"Set {name} in your Django settings: ")
        assert "docs/" not in (error.hint or "") and ".md" not in (error.hint or "")
