"""Fixtures for the admin tests (kept apart so parallel work does not collide).

Workspaces are saved through the real ``persistence.save_installation`` with fake tokens generated
at runtime; every token handed out is remembered in ``audit_secrets`` so tests can scan pages and
command output for it (and for its last characters).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from slack_sdk.oauth.installation_store import Installation as SdkInstallation

from installations.conf import slack_config
from installations.models import Workspace
from slackstandin import SlackStandIn
from tests.factories import (
    fake_token,
    fake_webhook_url,
    install_through_standin,
    installation_from_oauth,
    save,
    sdk_installation,
)

WORKSPACE_FIELDS = {f.name for f in Workspace._meta.concrete_fields}


@pytest.fixture
def audit_secrets() -> list[str]:
    """Every token and webhook URL the admin fixtures created in this test."""
    return []


def _remember(found: list[str], data: SdkInstallation) -> None:
    for value in (
        data.bot_token,
        data.bot_refresh_token,
        data.user_token,
        data.user_refresh_token,
        data.incoming_webhook_url,
    ):
        if value:
            found.append(value)


@pytest.fixture
def audit_workspace(db: Any, audit_secrets: list[str]) -> Callable[..., Workspace]:
    """Save an install with fake tokens, then set lifecycle facts (``overrides``) on the row."""
    counter = iter(range(1, 10_000))

    def make(
        *,
        team_id: str | None = None,
        team_name: str = "",
        enterprise_id: str | None = None,
        enterprise_name: str | None = None,
        org_wide: bool = False,
        bot_scopes: str | None = None,
        user_id: str = "U0INSTALLER",
        user_scopes: str = "",
        rotation: bool = False,
        webhook: bool = False,
        installed_at: Any = None,
        **overrides: Any,
    ) -> Workspace:
        n = next(counter)
        data = sdk_installation(
            app_id="A0AUDIT",
            enterprise_id=enterprise_id,
            enterprise_name=enterprise_name,
            team_id=None if org_wide else (team_id or f"T0AUDIT{n:04d}"),
            team_name=None if org_wide else (team_name or f"Audit team {n}"),
            bot_token=fake_token("xoxb"),
            bot_id=f"B0AUDIT{n:04d}",
            bot_user_id=f"U0AUDITBOT{n:04d}",
            bot_scopes=",".join(slack_config().scopes) if bot_scopes is None else bot_scopes,
            bot_refresh_token=fake_token("xoxe-1") if rotation else None,
            bot_token_expires_in=43200 if rotation else None,
            user_id=user_id,
            user_token=fake_token("xoxp") if user_scopes else None,
            user_scopes=user_scopes or None,
            incoming_webhook_url=fake_webhook_url() if webhook else None,
            incoming_webhook_channel="#audit" if webhook else None,
            is_enterprise_install=org_wide,
            token_type="bot",
            installed_at=(installed_at or timezone.now()).timestamp(),
        )
        _remember(audit_secrets, data)
        workspace = save(data)
        if overrides:
            unknown = set(overrides) - WORKSPACE_FIELDS
            assert not unknown, unknown
            Workspace.objects.filter(pk=workspace.pk).update(**overrides)
        return Workspace.objects.get(pk=workspace.pk)

    return make


@pytest.fixture
def audit_staff(db: Any, django_user_model: Any) -> Callable[..., Client]:
    """A logged-in client for a staff user holding exactly ``perms`` (codenames)."""
    counter = iter(range(1, 1000))

    def make(*perms: str, staff: bool = True, enforce_csrf: bool = False) -> Client:
        user = django_user_model.objects.create_user(
            username=f"staff{next(counter)}", password=None, is_staff=staff
        )
        for codename in perms:
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label="installations", codename=codename)
            )
        client = Client(enforce_csrf_checks=enforce_csrf)
        client.force_login(user)
        return client

    return make


@pytest.fixture
def viewer(audit_staff: Callable[..., Client]) -> Client:
    return audit_staff("view_workspace")


@pytest.fixture
def operator(audit_staff: Callable[..., Client]) -> Client:
    """May see, verify, refresh and revoke."""
    return audit_staff("view_workspace", "change_workspace", "revoke_workspace")


@pytest.fixture
def standin_install(standin: SlackStandIn, audit_secrets: list[str]) -> Callable[..., Workspace]:
    """Approve on the stand-in, exchange the code over HTTP, save: tokens the stand-in knows."""

    def install(**choices: Any) -> Workspace:
        config = slack_config()
        workspace, body = install_through_standin(
            standin,
            scopes=config.scopes,
            user_scopes=config.user_scopes,
            auth_test=False,  # the admin tests count the auth.test calls their actions make
            **choices,
        )
        _remember(audit_secrets, installation_from_oauth(body))
        return workspace

    return install


def past(**delta: float) -> Any:
    return timezone.now() - timedelta(**delta)
