"""The app as a developer gets it: a wheel installed from an index into a clean venv, in a host.

The host project (tests/reusable/host_project/) is what a developer writes: its own
DEFAULT_AUTO_FIELD = AutoField, the app mounted at /integrations/, its own base template, a
logged-in user, production settings. Each venv holds only what ``django-slackinstall`` (plus
one extra) declares; the stand-in runs in this test's process, from the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from installations.encryption.keyring import generate_key_entry
from installations.extras import EXTRA_MODULES
from slackstandin import SlackStandIn
from tests.reusable.conftest import REPO, installed_names, run

HOST = Path(__file__).resolve().parent / "host_project"
CLIENT_ID = "1111.2222"
# Modules that need an extra; importing one without it names the extra (docs/settings.md).
# The modules that need an extra, and the extra each names when it is missing.
NEEDS_EXTRA = {
    "installations.bolt.authorize": "bolt",
    "installations.bolt.async_authorize": "bolt-async",
}
# Distributions an extra brings, and that the base install must not hold.
OPTIONAL_DISTRIBUTIONS = {"slack-bolt", "aiohttp", "redis", "psycopg"}


def wheel_metadata(wheel: Path) -> str:
    names = zipfile.ZipFile(wheel).namelist()
    return zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()


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
    metadata = wheel_metadata(app_wheel)
    assert "Version: 0.2.0" in metadata
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    base = sorted(line for line in requires if "extra ==" not in line)
    assert base == [
        "Requires-Dist: Django<6.2,>=5.2",
        "Requires-Dist: PyJWT<3,>=2.8",
        "Requires-Dist: cryptography>=42",
        "Requires-Dist: prometheus_client<1,>=0.20",
        "Requires-Dist: slack_sdk<4,>=3.48",
    ]
    extras = {line.split(": ", 1)[1] for line in metadata.splitlines() if "Provides-Extra" in line}
    assert extras == set(EXTRA_MODULES)
    assert 'aiohttp<4,>=3.9; extra == "bolt-async"' in metadata
    assert not [line for line in requires if "aiohttp" in line and 'extra == "bolt"' in line]
    assert not [line for line in requires if "environ" in line]  # the example project's only
    assert "Requires-Python: >=3.11" in metadata
    for version in ("5.2", "6.0", "6.1"):
        assert f"Classifier: Framework :: Django :: {version}" in metadata
    for version in ("3.11", "3.12", "3.13"):
        assert f"Classifier: Programming Language :: Python :: {version}" in metadata


def test_the_version_is_in_one_place() -> None:
    import installations

    assert installations.__version__ == "0.2.0"
    assert "## 0.2.0" in (REPO / "CHANGELOG.md").read_text()
    assert 'version = "' not in (REPO / "pyproject.toml").read_text().split("[tool.")[0]


@pytest.fixture
def host_dir(tmp_path: Path) -> Path:
    shutil.copytree(HOST, tmp_path / "host")
    return tmp_path / "host"


def host_env(host_dir: Path, **more: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(host_dir),
        "HOST_SECRET_KEY": "host-secret-" + "k" * 40,
        "HOST_DB": str(host_dir / "host.sqlite3"),
        "HOST_SLACK_CLIENT_ID": CLIENT_ID,
        "HOST_SLACK_CLIENT_SECRET": "fake-host-client-secret",
        "HOST_SLACK_SIGNING_SECRET": "fake-host-signing-secret",
        "HOST_TOKEN_ENCRYPTION_KEYS": generate_key_entry("host1"),
        "HOST_SLACK_API_URL": "http://127.0.0.1:9/api/",  # overridden where the stand-in runs
        "HOST_SLACK_AUTHORIZE_URL": "http://127.0.0.1:9/oauth/v2/authorize",
        "HOST_SLACK_SIGNIN_AUTHORIZE_URL": "http://127.0.0.1:9/openid/connect/authorize",
        "HOST_SLACK_JWKS_URL": "http://127.0.0.1:9/openid/connect/keys",
        **more,
    }


@pytest.mark.parametrize("extras", ["", "bolt", "bolt-async"])
def test_every_module_imports_or_names_its_extra(
    host_venv: Callable[[str], Path], host_dir: Path, extras: str
) -> None:
    python = host_venv(extras)
    held = installed_names(python)
    brought = {"": set(), "bolt": {"slack-bolt"}, "bolt-async": {"slack-bolt", "aiohttp"}}[extras]
    assert held & OPTIONAL_DISTRIBUTIONS == brought
    assert "pyjwt" in held
    done = run([str(python), str(host_dir / "import_every_module.py")], cwd=str(host_dir),
               env=host_env(host_dir))  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert str(python.parent.parent) in found.pop("__file__")  # the wheel's copy
    called, hint = (
        found.pop("call new_bolt_app()"),
        found.pop("check of a module importing slack_bolt"),
    )
    if extras:
        assert (called, hint) == ("ok", "ok")
    else:  # the factory and the check both say which extra to install
        assert called.startswith("ImportError: slack_bolt is not installed"), called
        for said in (called, hint):
            assert 'pip install "django-slackinstall[bolt]"' in said, said
    assert len(found) > 50
    failed = {name: message for name, message in found.items() if message != "ok"}
    installed = {"": set(), "bolt": {"bolt"}, "bolt-async": {"bolt", "bolt-async"}}[extras]
    missing = {name: extra for name, extra in NEEDS_EXTRA.items() if extra not in installed}
    assert sorted(failed) == sorted(missing)
    documented = (REPO / "docs" / "settings.md").read_text()
    for name, message in failed.items():
        assert f'pip install "django-slackinstall[{missing[name]}]"' in message, message
        assert f"`{name}`" in documented


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    server = SlackStandIn(client_id=CLIENT_ID, client_secret="fake-host-client-secret").start()
    try:
        yield server
    finally:
        server.stop()


BOLT_APPS = {
    "": "",
    "bolt": "hostsite.bolt_apps.sync_app",
    "bolt-async": "hostsite.bolt_apps.async_app",
}


@pytest.mark.parametrize("extras", ["", "bolt", "bolt-async"])
def test_host_project_from_a_clean_install(
    host_venv: Callable[[str], Path], host_dir: Path, standin: SlackStandIn, extras: str
) -> None:
    python = host_venv(extras)
    env = host_env(
        host_dir,
        HOST_SLACK_API_URL=standin.api_url,
        HOST_SLACK_AUTHORIZE_URL=standin.authorize_url,
        HOST_SLACK_SIGNIN_AUTHORIZE_URL=standin.signin_authorize_url,
        HOST_SLACK_JWKS_URL=standin.jwks_url,
        HOST_BOLT_APP=BOLT_APPS[extras],
    )
    done = run([str(python), str(host_dir / "run_host_flow.py")], cwd=str(host_dir), env=env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert str(python.parent.parent) in found["installations_file"]  # the wheel's copy
    assert found["version"] == "0.2.0"
    expected_django = os.environ.get("HOST_DJANGO_VERSION_PREFIX")
    if expected_django:
        assert found["django"].startswith(expected_django), found["django"]
    assert found["makemigrations_check"] == "clean"  # AutoField host: no new migration
    assert found["check"] == "ok"
    assert found["signin_app"] is True and found["signin_table"] is True
    assert found["install_page_status"] == 200
    assert found["host_base_template"] is True
    assert found["redirect_uri_sent"] == "https://testserver/integrations/slack/oauth_redirect"
    assert found["callback_status"] == 302
    assert found["callback_location"] == "/dashboard/"  # the safe ?next= from the signed state
    assert found["installed_by"] is True
    assert found["custom_values"] == {"account": "acct-1"}
    assert found["signal"] == [
        {"team_id": found["team_id"], "installation": found["signal"][0]["installation"],
         "user": 1}
    ]  # fmt: skip
    assert found["bot_token"] == standin.issued[0]["access_token"]
    assert found["token_encrypted"] is True
    assert found["success_page_prefix"] == 400  # served under the prefix (no link: a 400 page)
    assert (found["signin_start_status"], found["signin_callback_status"]) == (302, 302)
    assert found["signed_in"] is True
    assert found["jwt_loaded"] is True
    assert (found["admin_status"], found["admin_lists_team"]) == (200, True)
    assert found["deploy_check"] == []
    assert found["aiohttp_installed"] is (extras == "bolt-async")
    if extras:
        assert found["event_status"] == 200
        wanted = "hello from the host's " + ("AsyncApp" if extras == "bolt-async" else "App")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not [m for m in standin.messages if m.text == wanted]:
            time.sleep(0.1)
        posted = [m for m in standin.messages if m.text == wanted]
        assert [(m.team_id, m.channel) for m in posted] == [(found["team_id"], "C0HOST")]
