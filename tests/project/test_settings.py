"""Start-up configuration: production refuses to run on a missing or malformed variable, and one
run lists every problem (one ``configuration error:`` line each, exit status 2, no traceback)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core import checks
from django.test import Client
from pytest_django import Settings

from installations.encryption.keyring import generate_key_entry
from tests.project.settings_names import names_read, names_read_under

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = [
    "DJANGO_SECRET_KEY",
    "TOKEN_ENCRYPTION_KEYS",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
    "SLACK_SIGNING_SECRET",
    "SLACK_REDIRECT_URI",
    "DJANGO_ALLOWED_HOSTS",
]


def problem_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("configuration error: ")]


def production_env(tmp_path: Path, **changes: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SLACK_"))}
    env.update(
        {
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": "s" * 20 + os.urandom(24).hex(),
            "TOKEN_ENCRYPTION_KEYS": generate_key_entry("prod1"),
            "SLACK_CLIENT_ID": "1111.2222",
            "SLACK_CLIENT_SECRET": "fake-client-secret",
            "SLACK_SIGNING_SECRET": "fake-signing-secret",
            "SLACK_REDIRECT_URI": "https://install.example.com/slack/oauth_redirect",
            "DJANGO_ALLOWED_HOSTS": "install.example.com",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        }
    )
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_complete_production_environment_starts(tmp_path: Path) -> None:
    result = manage(production_env(tmp_path), "check")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", REQUIRED)
def test_each_missing_variable_stops_start_up_in_one_line(tmp_path: Path, name: str) -> None:
    result = manage(production_env(tmp_path, **{name: None}), "check")
    assert result.returncode == 2
    lines = problem_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert name in lines[0]


def test_one_run_lists_every_missing_variable(tmp_path: Path) -> None:
    result = manage(production_env(tmp_path, **dict.fromkeys(REQUIRED)), "check")
    assert result.returncode == 2
    lines = problem_lines(result.stderr)
    assert len(lines) == len(REQUIRED), result.stderr
    for name in REQUIRED:
        assert sum(name in line for line in lines) == 1, (name, lines)
    assert "slack_init" in result.stderr  # says how to get a starting point


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"TOKEN_ENCRYPTION_KEYS": "k1:tooshort"}, "TOKEN_ENCRYPTION_KEYS"),
        ({"TOKEN_ENCRYPTION_KEYS": "not-an-entry"}, "TOKEN_ENCRYPTION_KEYS"),
        ({"SLACK_REDIRECT_URI": "http://install.example.com/cb"}, "SLACK_REDIRECT_URI"),
        ({"DJANGO_ALLOWED_HOSTS": "*"}, "DJANGO_ALLOWED_HOSTS"),
        ({"SLACK_HTTP_TIMEOUT_SECONDS": "ten"}, "SLACK_HTTP_TIMEOUT_SECONDS"),
        ({"DJANGO_HSTS_SECONDS": "-1"}, "DJANGO_HSTS_SECONDS"),
        ({"DJANGO_SECURE_SSL_REDIRECT": "ture"}, "DJANGO_SECURE_SSL_REDIRECT"),
        ({"DATABASE_URL": "mysqll://db/x"}, "DATABASE_URL"),
        ({"DATABASE_URL": "garbage"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgress://app:fake-password-4711@db/x"}, "DATABASE_URL"),
        ({"DJANGO_TIME_ZONE": "Mars/Olympus"}, "DJANGO_TIME_ZONE"),
        ({"DJANGO_LOG_LEVEL": "LOUD"}, "DJANGO_LOG_LEVEL"),
        ({"DJANGO_CONN_MAX_AGE": "forever"}, "DJANGO_CONN_MAX_AGE"),
    ],
)
def test_malformed_values_stop_start_up_naming_the_variable(
    tmp_path: Path, changes: dict[str, str], named: str
) -> None:
    result = manage(production_env(tmp_path, **changes), "check")
    assert result.returncode == 2
    lines = problem_lines(result.stderr)
    assert len(lines) == 1 and named in lines[0], result.stderr
    # The one line, nothing a library printed before it (django-environ's warning of an unknown
    # scheme would show the URL's password).
    assert "Warning" not in result.stderr and "fake-password" not in result.stderr


def test_missing_and_malformed_variables_are_all_listed_in_one_run(tmp_path: Path) -> None:
    env = production_env(
        tmp_path,
        DJANGO_SECRET_KEY=None,
        SLACK_SIGNING_SECRET="",
        TOKEN_ENCRYPTION_KEYS="k1:tooshort",
        DJANGO_ALLOWED_HOSTS="*",
        SLACK_STATE_TTL_SECONDS="soon",
    )
    result = manage(env, "migrate")
    assert result.returncode == 2
    lines = problem_lines(result.stderr)
    named = [
        "DJANGO_SECRET_KEY",
        "SLACK_SIGNING_SECRET",
        "TOKEN_ENCRYPTION_KEYS",
        "DJANGO_ALLOWED_HOSTS",
        "SLACK_STATE_TTL_SECONDS",
    ]
    assert len(lines) == len(named), result.stderr
    assert all(any(name in line for line in lines) for name in named), lines
    assert not (tmp_path / "db.sqlite3").exists()  # nothing ran


def test_a_value_holding_a_comment_is_refused_without_echoing_it(tmp_path: Path) -> None:
    secret = "fake-signing-secret-" + os.urandom(8).hex()
    env = production_env(tmp_path, SLACK_SIGNING_SECRET=f"{secret}   # from the app page")
    result = manage(env, "check")
    assert result.returncode == 2
    lines = problem_lines(result.stderr)
    assert len(lines) == 1 and "SLACK_SIGNING_SECRET" in lines[0] and "comment" in lines[0]
    assert secret not in result.stderr


def test_a_missing_secret_file_is_named(tmp_path: Path) -> None:
    env = production_env(tmp_path, TOKEN_ENCRYPTION_KEYS=None)
    env["TOKEN_ENCRYPTION_KEYS_FILE"] = str(tmp_path / "no-such-file")
    result = manage(env, "check")
    assert result.returncode == 2
    lines = problem_lines(result.stderr)
    assert len(lines) == 1 and "TOKEN_ENCRYPTION_KEYS_FILE" in lines[0], result.stderr


def test_keys_can_come_from_a_mounted_secret_file(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text(generate_key_entry("fromfile") + "\n")  # files usually end in a newline
    env = production_env(tmp_path, TOKEN_ENCRYPTION_KEYS=None)
    env["TOKEN_ENCRYPTION_KEYS_FILE"] = str(key_file)
    code = "from installations.encryption.configured import keyring; print(keyring().kids)"
    result = manage(env, "shell", "-c", code)
    assert result.returncode == 0, result.stderr
    assert "('fromfile',)" in result.stdout


def test_debug_is_on_only_when_asked(tmp_path: Path) -> None:
    code = "from django.conf import settings; print(settings.DEBUG)"
    assert manage(production_env(tmp_path), "shell", "-c", code).stdout.split()[-1] == "False"
    # A value that is neither true nor false is refused, never read as "on".
    env = production_env(tmp_path, DJANGO_DEBUG="yes-please")
    result = manage(env, "shell", "-c", code)
    assert result.returncode == 2 and result.stdout == ""
    assert ["DJANGO_DEBUG" in line for line in problem_lines(result.stderr)] == [True]


PROBLEMS = "configuration error: DJANGO_SECRET_KEY", "configuration error: SLACK_CLIENT_ID"


def test_wsgi_and_asgi_refuse_to_load_with_every_problem(tmp_path: Path) -> None:
    env = production_env(tmp_path, DJANGO_SECRET_KEY=None, SLACK_CLIENT_ID=None)
    for module in ("slackinstall.wsgi", "slackinstall.asgi"):
        result = subprocess.run(
            [sys.executable, "-c", f"import {module}"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode != 0
        assert "ImproperlyConfigured" in result.stderr
        assert all(problem in result.stderr for problem in PROBLEMS), result.stderr


def test_gunicorn_refuses_to_start_with_every_problem(tmp_path: Path) -> None:
    env = production_env(tmp_path, DJANGO_SECRET_KEY=None, SLACK_CLIENT_ID=None)
    env.update({"PORT": "9", "WEB_CONCURRENCY": "1"})  # never bound: it stops before
    result = subprocess.run(
        [str(Path(sys.executable).parent / "gunicorn"), "--config", "gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = problem_lines(result.stderr)
    assert [line.split(" is not set")[0] for line in lines] == list(PROBLEMS)
    assert "Booting worker" not in result.stdout + result.stderr


# Django 6.1's run_checks() runs the model checks against every database by default.
@pytest.mark.django_db
def test_configuration_problems_are_system_check_errors(settings: Settings) -> None:
    """For code that loads Django without manage.py (a host project, a custom runner)."""
    settings.CONFIGURATION_PROBLEMS = ["SLACK_CLIENT_ID is not set"]
    errors = [e for e in checks.run_checks() if e.id == "installations.E003"]
    assert [e.msg for e in errors] == ["SLACK_CLIENT_ID is not set"]


# Django 6.1's run_checks() runs the model checks against every database by default.
@pytest.mark.django_db
def test_keyring_check_reports_malformed_keys(settings: Settings) -> None:
    settings.TOKEN_ENCRYPTION_KEYS = "k1:abc"
    errors = [e for e in checks.run_checks() if e.id and e.id.startswith("installations.")]
    assert [e.id for e in errors] == ["installations.E001"]
    assert "TOKEN_ENCRYPTION_KEYS" in errors[0].msg


# Django 6.1's run_checks() runs the model checks against every database by default.
@pytest.mark.django_db
def test_keyring_check_refuses_the_secret_key_as_a_token_key(
    settings: Settings,
) -> None:
    entry = generate_key_entry("k1")
    settings.TOKEN_ENCRYPTION_KEYS = entry
    settings.SECRET_KEY = entry.split(":")[1]
    errors = [e for e in checks.run_checks() if e.id and e.id.startswith("installations.")]
    assert [e.id for e in errors] == ["installations.E002"]


def test_healthz_answers_when_the_database_does(client: Client, db: None) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.parametrize("output", ["hash", "unified"])
def test_slack_diffsettings_masks_every_secret(settings: Settings, output: str) -> None:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("slack_diffsettings", "--output", output, stdout=out)
    text = out.getvalue()
    assert "SLACK_CLIENT_ID" in text  # the command ran and printed our settings
    for secret in (
        settings.SECRET_KEY,
        settings.SLACK_CLIENT_SECRET,
        settings.SLACK_SIGNING_SECRET,
        settings.TOKEN_ENCRYPTION_KEYS.split(":", 1)[1],
    ):
        assert secret not in text


def test_slack_diffsettings_shows_where_slack_is_reached(settings: Any) -> None:
    from io import StringIO

    from django.core.management import call_command

    settings.SLACK_API_URL = "http://127.0.0.1:9/api/"
    settings.SLACK_AUTHORIZE_URL = "https://user:hunter2-fake@proxy.example/oauth/v2/authorize"
    out = StringIO()
    call_command("slack_diffsettings", stdout=out)
    assert "SLACK_API_URL = 'http://127.0.0.1:9/api/'" in out.getvalue()
    assert "hunter2-fake" not in out.getvalue()  # a URL with credentials stays masked


def test_the_app_replaces_no_django_command() -> None:
    """A host project that installs the app keeps Django's own commands (diffsettings was one)."""
    from django.core.management import get_commands

    ours = {name for name, app in get_commands().items() if app == "installations"}
    assert ours and all(name.startswith("slack_") for name in ours)
    assert get_commands()["diffsettings"] == "django.core"


# --- one reference for settings: docs/settings.md and .env.example ---------------------------


def documented_names(text: str) -> set[str]:
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", text))


def env_example_names(text: str) -> set[str]:
    return set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))


def test_every_setting_and_variable_the_code_reads_is_documented() -> None:
    settings_read, env_read = names_read_under(ROOT / "installations", ROOT / "slackinstall")
    assert {"SLACK_BOLT_APP", "SLACK_SIGNIN_ENABLED", "SLACK_APP_NAME"} <= settings_read
    assert {"DJANGO_DEBUG", "SLACK_SIGNIN_STAFF_TEAMS", "SLACK_BOT_TOKEN"} <= env_read
    documented = documented_names((ROOT / "docs" / "settings.md").read_text())
    assert sorted((settings_read | env_read) - documented) == []
    in_env_example = env_example_names((ROOT / ".env.example").read_text())
    assert sorted(env_read - in_env_example) == []


@pytest.mark.parametrize(
    ("source", "settings_read", "env_read"),
    [
        ('getattr(settings, "SLACK_X", 1)', {"SLACK_X"}, set()),
        ("settings.SLACK_Y", {"SLACK_Y"}, set()),
        ("settings.DEBUG", set(), set()),  # Django's own
        ('text_setting("SLACK_Z")', {"SLACK_Z"}, set()),
        ('cfg.words("MY_LIST", default=[])', set(), {"MY_LIST"}),
        ('os.environ.get("MY_VAR")', set(), {"MY_VAR"}),
        ('os.environ["MY_OTHER"]', set(), {"MY_OTHER"}),
        ('request.META.get("HTTP_COOKIE")', set(), set()),
    ],
)
def test_the_collector_finds_each_kind_of_read(
    source: str, settings_read: set[str], env_read: set[str]
) -> None:
    assert names_read(ast.parse(source)) == (settings_read, env_read)
