"""Fixtures for the admin tests (kept apart so parallel work does not collide).

Workspaces are saved through the real ``persistence.save_installation`` with fake tokens generated
at runtime; every token handed out is remembered in ``audit_secrets`` so tests can scan pages and
command output for it (and for its last characters).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from slack_sdk import WebClient
from slack_sdk.oauth import AuthorizeUrlGenerator
from slack_sdk.oauth.installation_store import Installation as SdkInstallation

from installations.conf import slack_config
from installations.lifecycle.saving import save_installation
from installations.models import Workspace
from slackstandin import SlackStandIn

WORKSPACE_FIELDS = {f.name for f in Workspace._meta.concrete_fields}


def fake(prefix: str) -> str:
    return f"{prefix}-fake-{secrets.token_hex(12)}"


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
        data = SdkInstallation(
            app_id="A0AUDIT",
            enterprise_id=enterprise_id,
            enterprise_name=enterprise_name,
            team_id=None if org_wide else (team_id or f"T0AUDIT{n:04d}"),
            team_name=None if org_wide else (team_name or f"Audit team {n}"),
            bot_token=fake("xoxb"),
            bot_id=f"B0AUDIT{n:04d}",
            bot_user_id=f"U0AUDITBOT{n:04d}",
            bot_scopes=",".join(slack_config().scopes) if bot_scopes is None else bot_scopes,
            bot_refresh_token=fake("xoxe-1") if rotation else None,
            bot_token_expires_in=43200 if rotation else None,
            user_id=user_id,
            user_token=fake("xoxp") if user_scopes else None,
            user_scopes=user_scopes or None,
            incoming_webhook_url=f"https://hooks.example.invalid/{secrets.token_hex(8)}"
            if webhook
            else None,
            incoming_webhook_channel="#audit" if webhook else None,
            is_enterprise_install=org_wide,
            token_type="bot",
            installed_at=(installed_at or timezone.now()).timestamp(),
        )
        _remember(audit_secrets, data)
        workspace, _ = save_installation(
            data, client_id=slack_config().client_id, source="oauth", actor="test"
        )
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
        authorize_url = AuthorizeUrlGenerator(
            client_id=config.client_id,
            scopes=list(config.scopes),
            user_scopes=list(config.user_scopes),
            redirect_uri=config.redirect_uri,
            authorization_url=standin.authorize_url,
        ).generate(state=secrets.token_urlsafe(16))
        redirect = standin.approve(authorize_url, **choices)
        code = parse_qs(urlsplit(redirect).query)["code"][0]
        body = (
            WebClient(base_url=standin.api_url)
            .oauth_v2_access(
                client_id=config.client_id,
                client_secret=config.client_secret,
                code=code,
                redirect_uri=config.redirect_uri,
            )
            .data
        )
        data = installation_from_oauth(body)
        _remember(audit_secrets, data)
        workspace, _ = save_installation(
            data, client_id=config.client_id, source="oauth", actor="test"
        )
        return workspace

    return install


def installation_from_oauth(body: Any) -> SdkInstallation:
    """oauth.v2.access's answer as slack_sdk's Installation (as Bolt's OAuth flow builds it)."""
    user = body.get("authed_user") or {}
    team = body.get("team") or {}
    enterprise = body.get("enterprise") or {}
    hook = body.get("incoming_webhook") or {}
    return SdkInstallation(
        app_id=body.get("app_id"),
        enterprise_id=enterprise.get("id"),
        enterprise_name=enterprise.get("name"),
        team_id=team.get("id"),
        team_name=team.get("name"),
        bot_token=body.get("access_token"),
        bot_user_id=body.get("bot_user_id"),
        bot_scopes=body.get("scope"),
        bot_refresh_token=body.get("refresh_token"),
        bot_token_expires_in=body.get("expires_in"),
        user_id=user.get("id"),
        user_token=user.get("access_token"),
        user_scopes=user.get("scope"),
        user_refresh_token=user.get("refresh_token"),
        user_token_expires_in=user.get("expires_in"),
        incoming_webhook_url=hook.get("url"),
        incoming_webhook_channel=hook.get("channel"),
        incoming_webhook_channel_id=hook.get("channel_id"),
        incoming_webhook_configuration_url=hook.get("configuration_url"),
        is_enterprise_install=body.get("is_enterprise_install"),
        token_type=body.get("token_type"),
    )


def past(**delta: float) -> Any:
    return timezone.now() - timedelta(**delta)
