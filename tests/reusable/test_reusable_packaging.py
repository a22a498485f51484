"""The app as a developer gets it: a wheel, installed into a fresh venv, in a host project.

The host project (tests/reusable/host_project/) is what a developer writes: its own
DEFAULT_AUTO_FIELD = AutoField, the app mounted at /integrations/, its own base template, a
logged-in user. The whole install flow runs against the stand-in, in a subprocess whose
``installations`` can only come from the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from installations.encryption.keyring import generate_key_entry
from tests.reusable.conftest import REPO, run

HOST = Path(__file__).resolve().parent / "host_project"


def test_the_wheel_holds_the_app_and_nothing_else(app_wheel: Path) -> None:
    names = zipfile.ZipFile(app_wheel).namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert tops == {"installations", app_wheel.name.split("-")[0] + "-0.2.0.dist-info"}
    assert "installations/migrations/0001_initial.py" in names
    assert "installations/signin/migrations/0001_initial.py" in names  # the sign-in app's table
    assert "installations/templates/installations/install.html" in names
    assert "installations/templates/installations/base.html" in names
    assert "installations/py.typed" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    metadata = (
        zipfile.ZipFile(app_wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    )
    assert "Version: 0.2.0" in metadata
    assert "Requires-Dist: Django<6,>=5.2" in metadata
    assert "Requires-Dist: slack_sdk<4,>=3.48" in metadata
    assert 'extra == "bolt"' in metadata
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert not [line for line in requires if "environ" in line]  # the example project's only


def test_the_version_is_in_one_place() -> None:
    import installations

    assert installations.__version__ == "0.2.0"
    assert "## 0.2.0" in (REPO / "CHANGELOG.md").read_text()
    assert 'version = "' not in (REPO / "pyproject.toml").read_text().split("[tool.")[0]


@pytest.fixture
def host_dir(tmp_path: Path) -> Path:
    """The host project, plus a folder holding only the stand-in package (from the repo)."""
    shutil.copytree(HOST, tmp_path / "host")
    (tmp_path / "standin-only").mkdir()
    (tmp_path / "standin-only" / "slackstandin").symlink_to(REPO / "slackstandin")
    return tmp_path


def test_host_project_installs_with_a_logged_in_user(host_venv: Path, host_dir: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": f"{host_dir / 'host'}:{host_dir / 'standin-only'}",
        "HOST_SECRET_KEY": "host-secret-" + "k" * 40,
        "HOST_DB": str(host_dir / "host.sqlite3"),
        "HOST_SLACK_CLIENT_ID": "1111.2222",
        "HOST_SLACK_CLIENT_SECRET": "fake-host-client-secret",
        "HOST_SLACK_SIGNING_SECRET": "fake-host-signing-secret",
        "HOST_TOKEN_ENCRYPTION_KEYS": generate_key_entry("host1"),
    }
    done = run(
        [str(host_venv), str(host_dir / "host" / "run_host_flow.py")],
        cwd=str(host_dir / "host"),
        env=env,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert str(host_venv.parent.parent) in found["installations_file"]  # the wheel's copy
    assert found["version"] == "0.2.0"
    assert found["makemigrations_check"] == "clean"  # AutoField host: no new migration
    assert found["check"] == "ok"
    assert found["signin_app"] is False and found["signin_table"] is False  # sign-in not listed
    assert found["install_page_status"] == 200
    assert found["host_base_template"] is True
    assert found["redirect_uri_sent"] == "https://testserver/integrations/slack/oauth_redirect"
    assert found["callback_status"] == 302
    assert found["callback_location"] == "/dashboard/"  # the safe ?next= from the signed state
    assert found["installed_by"] is True
    assert found["custom_values"] == {"account": "acct-1"}
    assert found["signal"] == [
        {"team_id": "T0STANDIN1", "installation": found["signal"][0]["installation"], "user": 1}
    ]
    assert found["token_encrypted"] is True
    assert found["token_decrypts"] is True
    assert found["success_page_prefix"] == 400  # served under the prefix (no link: a 400 page)
