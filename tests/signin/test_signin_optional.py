"""Sign in with Slack is an app of its own: a host that does not list it gets no sign-in table,
and importing its code (a URLconf, a template tag) adds no model to the installations app."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import django
django.setup()
import importlib
from django.apps import apps
from django.core.management import call_command
from django.db import connection
call_command("migrate", verbosity=0)
importlib.import_module("installations.signin.models")
call_command("makemigrations", "--check", "--dry-run", verbosity=0)
call_command("check")
print(apps.is_installed("installations.signin"),
      "installations_slackidentity" in connection.introspection.table_names())
"""


def test_a_host_without_the_signin_app_has_no_signin_table(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.support.settings_without_signin",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'host.sqlite3'}",
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
        check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "False False"
