""" "My workspaces": the installs a signed-in person made (matched by Slack ids, across a Grid
org), with the admin's own statuses and reasons. No token is read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q
from django.urls import reverse

from installations.conf import slack_config
from installations.install.flow import install_page_path
from installations.install.next_page import returning_to
from installations.models import Installation, Workspace
from installations.reporting import health
from installations.signin.models import SlackIdentity

WORKSPACE_FIELDS = (
    "id",
    "client_id",
    "team_id",
    "team_name",
    "enterprise_id",
    "enterprise_name",
    "is_enterprise_install",
    "bot_scopes",
    "installer_user_id",
    "installed_at",
    "uninstalled_at",
    "bot_revoked_at",
    "health",
    "refresh_failed_at",
    "bot_token_expires_at",
)  # tokens are left out: with_health reads them in SQL (IS NULL) only, nothing decrypts them


@dataclass(frozen=True)
class WorkspaceRow:
    name: str
    target_id: str
    is_org: bool
    status: str
    needs_reinstall: bool
    reasons: list[str]
    reinstall_url: str


def _installed_by(identities: Iterable[SlackIdentity]) -> Q | None:
    condition: Q | None = None
    for identity in identities:
        if identity.enterprise_id:
            mine = Q(user_id=identity.slack_user_id, enterprise_id=identity.enterprise_id)
        else:
            mine = Q(user_id=identity.slack_user_id, team_id=identity.team_id, enterprise_id="")
        condition = mine if condition is None else condition | mine
    return condition


def workspaces_of(identities: Iterable[SlackIdentity]) -> list[WorkspaceRow]:
    condition = _installed_by(identities)
    if condition is None:
        return []
    history = Installation.objects.filter(condition, workspace=OuterRef("pk"))
    queryset = Workspace.objects.filter(Exists(history), client_id=slack_config().client_id)
    annotated = health.with_health(queryset.only(*WORKSPACE_FIELDS)).order_by(
        "team_name", "enterprise_name", "team_id"
    )
    return [_row(workspace) for workspace in annotated]


def install_link_back_here(team: str | None = None) -> str:
    """The install page (install/flow's one builder) leading back to this page: it offers the
    way back, and a finished install returns here with a message saying it worked."""
    return returning_to(install_page_path(team), reverse("slack_signin:workspaces"))


def _row(workspace: Workspace) -> WorkspaceRow:
    needs = bool(getattr(workspace, "needs_reinstall", False))
    url = install_link_back_here(workspace.team_id)
    org = workspace.is_enterprise_install
    return WorkspaceRow(
        name=(workspace.enterprise_name if org else workspace.team_name) or "(unnamed)",
        target_id=(workspace.enterprise_id if org else workspace.team_id),
        is_org=org,
        status=health.status(workspace),
        needs_reinstall=needs,
        reasons=health.reasons(workspace),
        reinstall_url=url if needs else "",
    )
