"""A sync Bolt app without aiohttp: ``django-slackinstall[bolt]`` installs no aiohttp.

Each test runs a fresh process in which a ``sys.meta_path`` entry makes every import of aiohttp
fail, as on a host that installed the ``bolt`` extra only: ``manage.py check`` passes, and a
signed ``url_verification`` and ``app_uninstalled`` through a sync ``App`` are answered (the
uninstall recorded). Bolt's async code, which needs aiohttp, is imported only for an
``AsyncApp``; one named in SLACK_BOLT_APP makes the system check say which extra to install.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reusable.conftest import run as run_process

ROOT = Path(__file__).resolve().parents[2]
WITHOUT_AIOHTTP = """
import sys


class NoAiohttp:
    \"\"\"As if aiohttp were not installed.\"\"\"

    def find_spec(self, name, path=None, target=None):
        if name == "aiohttp" or name.startswith("aiohttp."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoAiohttp())
"""
MANAGE = (
    WITHOUT_AIOHTTP
    + """
import runpy
sys.argv = ["manage.py", *sys.argv[1:]]
runpy.run_path("manage.py", run_name="__main__")
"""
)
DELIVER = (
    WITHOUT_AIOHTTP
    + """
import json

import django

django.setup()
from django.core.management import call_command
from django.test import Client

call_command("migrate", verbosity=0)
from installations.models import Workspace
from tests.support.factories import saved_workspace
from tests.support.lifecycle import envelope, sign

workspace = saved_workspace()
answers = []
for payload in ({"type": "url_verification", "challenge": "c0ffee"},
                envelope({"type": "app_uninstalled"}, team_id=workspace.team_id)):
    body = json.dumps(payload).encode()
    response = Client().post(
        "/slack/events", data=body, content_type="application/json", **sign(body)
    )
    answers.append([response.status_code, response.content.decode()])
workspace.refresh_from_db()
print(json.dumps({
    "answers": answers,
    "uninstalled": workspace.uninstalled_at is not None,
    "aiohttp": "aiohttp" in sys.modules,
    "bolt_async": "slack_bolt.app.async_app" in sys.modules,
}))
"""
)


def run(tmp_path: Path, script: str, *args: str, app: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SLACK_BOLT_APP": app,
        "DJANGO_SETTINGS_MODULE": "slackinstall.settings",
        "PYTHONPATH": str(ROOT),
    }
    return run_process([sys.executable, "-c", script, *args], cwd=ROOT, env=env)


SYNC_APP = "tests.reusable.sync_app.build_sync_app"
EXAMPLE = "example_app.slack_app.build_app"  # on new_bolt_app()


@pytest.mark.parametrize("app", [SYNC_APP, EXAMPLE])
def test_manage_py_check_passes_without_aiohttp(tmp_path: Path, app: str) -> None:
    checked = run(tmp_path, MANAGE, "check", app=app)
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]
    assert "E011" not in checked.stderr


@pytest.mark.parametrize("app", [SYNC_APP, EXAMPLE])
def test_a_sync_app_answers_without_aiohttp(tmp_path: Path, app: str) -> None:
    done = run(tmp_path, DELIVER, app=app)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    [verification, uninstall] = found["answers"]
    assert verification[0] == 200 and "c0ffee" in verification[1]
    assert uninstall[0] == 200
    assert found["uninstalled"] is True
    assert found["aiohttp"] is False and found["bolt_async"] is False


def test_an_async_app_without_aiohttp_names_the_extra_to_install(tmp_path: Path) -> None:
    checked = run(tmp_path, MANAGE, "check", app="tests.reusable.async_app_object.app")
    assert checked.returncode != 0
    assert "installations.E011" in checked.stderr
    assert 'pip install "django-slackinstall[bolt-async]"' in checked.stderr
