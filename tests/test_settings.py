"""Start-up configuration: production refuses to run without each secret, in one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import checks

from installations.crypto import generate_key_entry

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = [
    "DJANGO_SECRET_KEY",
    "TOKEN_ENCRYPTION_KEYS",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
    "SLACK_SIGNING_SECRET",
    "SLACK_REDIRECT_URI",
]


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
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert name in lines[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"TOKEN_ENCRYPTION_KEYS": "k1:tooshort"}, "TOKEN_ENCRYPTION_KEYS"),
        ({"TOKEN_ENCRYPTION_KEYS": "not-an-entry"}, "TOKEN_ENCRYPTION_KEYS"),
        ({"SLACK_REDIRECT_URI": "http://install.example.com/cb"}, "SLACK_REDIRECT_URI"),
        ({"DJANGO_ALLOWED_HOSTS": "*"}, "DJANGO_ALLOWED_HOSTS"),
    ],
)
def test_malformed_values_stop_start_up_naming_the_variable(
    tmp_path: Path, changes: dict[str, str], named: str
) -> None:
    result = manage(production_env(tmp_path, **changes), "check")
    assert result.returncode == 2
    assert named in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_keys_can_come_from_a_mounted_secret_file(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text(generate_key_entry("fromfile"))
    env = production_env(tmp_path, TOKEN_ENCRYPTION_KEYS=None)
    env["TOKEN_ENCRYPTION_KEYS_FILE"] = str(key_file)
    result = manage(
        env, "shell", "-c", "from installations import conf; print(conf.keyring().kids)"
    )
    assert result.returncode == 0, result.stderr
    assert "('fromfile',)" in result.stdout


def test_debug_is_on_only_when_asked(tmp_path: Path) -> None:
    code = "from django.conf import settings; print(settings.DEBUG)"
    assert manage(production_env(tmp_path), "shell", "-c", code).stdout.split()[-1] == "False"
    env = production_env(tmp_path, DJANGO_DEBUG="yes-please")
    assert manage(env, "shell", "-c", code).stdout.split()[-1] == "False"


def test_keyring_check_reports_malformed_keys(settings: pytest.FixtureRequest) -> None:
    settings.TOKEN_ENCRYPTION_KEYS = "k1:abc"
    errors = [e for e in checks.run_checks() if e.id.startswith("installations.")]
    assert [e.id for e in errors] == ["installations.E001"]
    assert "TOKEN_ENCRYPTION_KEYS" in errors[0].msg


def test_keyring_check_refuses_the_secret_key_as_a_token_key(
    settings: pytest.FixtureRequest,
) -> None:
    entry = generate_key_entry("k1")
    settings.TOKEN_ENCRYPTION_KEYS = entry
    settings.SECRET_KEY = entry.split(":")[1]
    errors = [e for e in checks.run_checks() if e.id.startswith("installations.")]
    assert [e.id for e in errors] == ["installations.E002"]


def test_healthz_answers_when_the_database_does(client: object, db: None) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.parametrize("output", ["hash", "unified"])
def test_diffsettings_masks_every_secret(settings: pytest.FixtureRequest, output: str) -> None:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("diffsettings", "--output", output, stdout=out)
    text = out.getvalue()
    assert "SLACK_CLIENT_ID" in text  # the command ran and printed our settings
    for secret in (
        settings.SECRET_KEY,
        settings.SLACK_CLIENT_SECRET,
        settings.SLACK_SIGNING_SECRET,
        settings.TOKEN_ENCRYPTION_KEYS.split(":", 1)[1],
    ):
        assert secret not in text
