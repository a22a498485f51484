"""Names that say what they mean, one definition per fact, and behaviour that follows from them.

A 400 of ours is Django's BadRequest too; a check someone asked for is
logged because the caller says so, not because of how its actor is spelled; the keyring is
validated in one place; the identity columns are defined once without a migration.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import BadRequest
from django.core.handlers.exception import convert_exception_to_response
from django.core.management import call_command
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.test import RequestFactory

from installations.exceptions import InvalidInstallRequest, InvalidState, SlackInstallError
from installations.lifecycle.staff_actions import verify_workspace
from installations.lifecycle.verification import verify_active
from installations.models import Installation, InstallIdentity, LifecycleEvent, Workspace

ROOT = Path(__file__).resolve().parents[2]


def test_our_400s_are_djangos_bad_request_so_django_answers_400_where_we_do_not() -> None:
    """Our views render every SlackInstallError themselves; anywhere else (a host project's
    view calling the flow), Django's handler answers one of ours with a 400, not a 500."""

    def host_view(request: HttpRequest) -> HttpResponse:
        raise InvalidState()

    assert issubclass(InvalidInstallRequest, SlackInstallError)
    assert issubclass(InvalidInstallRequest, BadRequest)
    response = convert_exception_to_response(host_view)(RequestFactory().get("/host"))
    assert isinstance(response, HttpResponseBase)  # a sync view: answered, not awaited
    assert response.status_code == 400


@pytest.mark.django_db
def test_our_own_pages_still_render_a_bad_link_themselves(client: Any) -> None:
    response = client.get("/slack/oauth_redirect", {"code": "x", "state": "forged"}, secure=True)
    assert response.status_code == 400
    assert b"installation link is not valid" in response.content  # our page, not Django's


@pytest.mark.django_db
def test_a_check_someone_asked_for_is_logged_whatever_the_actor_is_called(
    standin: Any, install: Any
) -> None:
    """Scheduled runs log a working token only when something changed; a check asked for by
    name (staff, a command, a script) is always logged. The caller says which, not the
    spelling of the actor (it used to be ``actor.startswith("command:")``)."""
    workspace, _ = install()
    verified = LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.VERIFIED)
    verify_active(actor="command:slack_verify", concurrency=1)  # unknown -> ok: a change
    verify_active(actor="command:slack_verify", concurrency=1)  # nothing changed
    assert verified.count() == 1
    verify_workspace(Workspace.objects.get(pk=workspace.pk), actor="command:support-script")
    assert verified.count() == 2
    latest = verified.order_by("-pk").first()
    assert latest is not None and latest.actor == "command:support-script"


def test_a_malformed_keyring_is_reported_once_by_the_system_checks(tmp_path: Path) -> None:
    """The keys are validated by the app's check alone; settings.py only reads them (it used to
    validate too, and the checks then listed E003 and a misleading "empty" E001)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SLACK_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="slackinstall.settings",
        DJANGO_DEBUG="true",
        TOKEN_ENCRYPTION_KEYS="k1:tooshort",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    script = (
        "import django; django.setup()\n"
        "from django.core import checks\n"
        "for m in checks.run_checks():\n"
        "    if m.id.startswith('installations.'): print(m.id, m.msg)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    keyring = [line for line in lines if "TOKEN_ENCRYPTION_KEYS" in line]
    assert len(keyring) == 1 and keyring[0].startswith("installations.E001"), lines


@pytest.mark.django_db
def test_the_identity_columns_are_defined_once_and_need_no_migration() -> None:
    shared = [f.name for f in InstallIdentity._meta.fields]
    for model in (Workspace, Installation):
        own = {f.name: f for f in model._meta.fields}
        for name in shared:
            base = InstallIdentity._meta.get_field(name)
            assert isinstance(base, models.Field)  # a column, not a relation's reverse side
            assert own[name].deconstruct()[1:] == base.deconstruct()[1:], (model, name)
    call_command("makemigrations", "installations", "--check", "--dry-run", verbosity=0)
