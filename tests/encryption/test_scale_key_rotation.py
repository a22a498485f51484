"""Rolling key rotation: a key is added decrypt-only first and promoted in a second deploy.

Each "instance" is a keyring configuration; at every step of a rolling restart every instance
must read what any instance writes. The multi-process version of the same steps runs behind nginx
in tests/project/test_scale_multi_instance.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core import checks
from django.core.management import call_command

from installations.checks import check_keyring, check_stored_keys_readable
from installations.encryption import configured
from installations.encryption.keyring import Keyring, KeyringError, generate_key_entry, kid_of
from installations.encryption.stored_kids import stored_kids
from installations.models import Installation, Workspace
from tests.support.factories import fake_token, workspace_row

ROOT = Path(__file__).resolve().parents[2]
OLD, NEW = generate_key_entry("old"), generate_key_entry("new")


def test_the_active_key_id_picks_the_sealing_key_and_every_key_opens() -> None:
    ring = Keyring.parse(f"{OLD},{NEW}", active="new")
    envelope = ring.encrypt("xoxb-test-fake", "ctx")
    assert kid_of(envelope) == "new" and ring.decrypt_only_kids == ("old",)
    old_only = Keyring.parse(OLD)
    sealed_old = old_only.encrypt("xoxb-test-fake", "ctx")
    assert ring.decrypt(sealed_old, "ctx") == "xoxb-test-fake"
    assert Keyring.parse(f"{OLD},{NEW}").active_kid == "old"  # unset: the first entry, as before


def test_an_active_key_id_outside_the_keyring_is_refused_without_key_material() -> None:
    with pytest.raises(KeyringError) as caught:
        Keyring.parse(OLD, active="new")
    assert "TOKEN_ENCRYPTION_ACTIVE_KEY_ID" in str(caught.value)
    assert OLD.split(":", 1)[1] not in str(caught.value)


def _workspace(team: str) -> Workspace:
    return workspace_row(
        team_id=team, bot_token=fake_token("xoxb"), bot_refresh_token=fake_token("xoxe-1")
    )


def _read_all() -> dict[str, tuple[str | None, str | None]]:
    """Every workspace's tokens, read as the current configuration would: raises if unreadable."""
    return {
        ws.team_id: (ws.bot_token, ws.bot_refresh_token) for ws in Workspace.objects.order_by("pk")
    }


def _as_instance(settings: Any, keys: str, active: str = "") -> None:
    settings.TOKEN_ENCRYPTION_KEYS = keys
    settings.TOKEN_ENCRYPTION_ACTIVE_KEY_ID = active


@pytest.mark.django_db(transaction=True)
def test_every_step_of_a_rolling_rotation_keeps_every_value_readable_everywhere(
    settings: Any,
) -> None:
    old_ring = (OLD, "")
    added = (f"{OLD},{NEW}", "")  # step (a): the new key listed after the old, decrypt-only
    promoted = (f"{OLD},{NEW}", "new")  # step (b): TOKEN_ENCRYPTION_ACTIVE_KEY_ID=new
    final = (NEW, "")  # step (d), after slack_reencrypt and --check
    _as_instance(settings, *old_ring)
    _workspace("T0ROLL01")
    expected = _read_all()
    # Each step: the fleet is a mix of the previous and the next configuration.
    for before, after in [(old_ring, added), (added, promoted)]:
        for writer in (before, after):
            _as_instance(settings, *writer)
            team = f"T0ROLL{len(expected) + 1:02d}"
            _workspace(team)
            for reader in (before, after):
                _as_instance(settings, *reader)
                expected = _read_all()  # raises EncryptedDataError on any unreadable value
                assert team in expected
    _as_instance(settings, *promoted)
    out = StringIO()
    call_command("slack_reencrypt", stdout=out)
    call_command("slack_reencrypt", "--check", stdout=StringIO())
    assert stored_kids() == {"new"}
    _as_instance(settings, *final)  # the old key removed
    assert _read_all() == expected


@pytest.mark.django_db(transaction=True)
def test_stored_kids_reads_every_encrypted_column_without_decrypting(settings: Any) -> None:
    _as_instance(settings, OLD)
    ws = _workspace("T0KIDS01")
    _as_instance(settings, f"{OLD},{NEW}", "new")
    Installation.objects.create(
        workspace=ws, client_id="1111.2222", team_id=ws.team_id, user_id="U1", user_token="xoxp-t"
    )
    assert stored_kids() == {"old", "new"}


def test_the_check_errors_when_the_active_key_id_is_not_in_the_keyring(settings: Any) -> None:
    settings.TOKEN_ENCRYPTION_KEYS = OLD
    settings.TOKEN_ENCRYPTION_ACTIVE_KEY_ID = "new"
    found = check_keyring()
    assert [m.id for m in found] == ["installations.E004"] and found[0].level == checks.ERROR
    settings.TOKEN_ENCRYPTION_ACTIVE_KEY_ID = "old"
    assert check_keyring() == []


@pytest.mark.django_db(transaction=True)
def test_the_check_warns_when_values_use_a_key_this_configuration_lacks(settings: Any) -> None:
    # Another instance promoted "new" before this one was given it.
    _as_instance(settings, f"{OLD},{NEW}", "new")
    _workspace("T0EARLY1")
    _as_instance(settings, OLD)
    found = check_stored_keys_readable(databases=["default"])
    assert [m.id for m in found] == ["installations.W005"] and found[0].level == checks.WARNING
    assert "new" in found[0].msg and found[0].hint is not None
    assert NEW.split(":", 1)[1] not in found[0].msg + found[0].hint
    assert check_stored_keys_readable(databases=None) == []  # a database check: only on demand
    _as_instance(settings, f"{OLD},{NEW}")
    assert check_stored_keys_readable(databases=["default"]) == []


def test_the_configured_keyring_follows_the_setting(settings: Any) -> None:
    _as_instance(settings, f"{OLD},{NEW}", "new")
    assert configured.keyring().active_kid == "new"
    _as_instance(settings, f"{OLD},{NEW}")
    assert configured.keyring().active_kid == "old"


def test_start_up_lists_an_active_key_id_that_is_not_in_the_keyring(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SLACK_"))}
    env.update(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=os.urandom(40).hex(),
        TOKEN_ENCRYPTION_KEYS=OLD,
        TOKEN_ENCRYPTION_ACTIVE_KEY_ID="new",
        SLACK_CLIENT_ID="1111.2222",
        SLACK_CLIENT_SECRET=os.urandom(16).hex(),
        SLACK_SIGNING_SECRET=os.urandom(16).hex(),
        SLACK_REDIRECT_URI="https://install.example.com/slack/oauth_redirect",
        DJANGO_ALLOWED_HOSTS="install.example.com",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "TOKEN_ENCRYPTION_ACTIVE_KEY_ID" in result.stderr, result.stderr
    assert OLD.split(":", 1)[1] not in result.stdout + result.stderr
