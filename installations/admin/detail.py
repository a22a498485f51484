"""What the read-only workspace page shows besides its fields: scopes, history, events, link.
Nothing here decrypts: token cells come from the envelope's header."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django.db.models import BooleanField, ExpressionWrapper, Q
from django.utils import formats, timezone

from installations.conf import parse_scopes
from installations.models import Installation, LifecycleEvent, Workspace
from installations.reporting import health
from installations.reporting.stored_keys import stored_key

EVENTS_SHOWN = 100
HISTORY_SHOWN = 100


def token_summary(
    instance: Any, field_name: str, expires_at: Any = None, *, check: bool = False
) -> str:
    """ "Present, key id k1, expires …" from the stored envelope's header; never shows the token.
    With ``check`` (one workspace's page) a value whose key this server lacks is flagged."""
    stored = stored_key(instance, field_name)
    if not stored.present:
        return "Absent"
    parts = ["Present", f"key id {stored.kid}" if stored.kid else "key id unknown"]
    if expires_at is not None:
        # template_localtime is Django's (as templates show times); django-stubs lacks it
        local = timezone.template_localtime(expires_at)  # type: ignore[attr-defined]
        parts.append(f"expires {formats.localize(local)}")
    if check and not stored.key_configured:
        parts.append("UNDECRYPTABLE with the configured keys (reinstall or restore the key)")
    return ", ".join(parts)


SLACK_APP_URL = "https://app.slack.com"


def slack_management_url(workspace: Workspace) -> str:
    """The app's page in Slack's app management for this install ("" without an app id): the
    org's admin pages for an org-wide install (docs/slack-protocol.md §2b), else §7."""
    if not workspace.app_id:
        return ""
    app = quote(workspace.app_id, safe="")
    if workspace.is_enterprise_install and workspace.enterprise_id:
        org = quote(workspace.enterprise_id, safe="")
        return f"{SLACK_APP_URL}/manage/{org}/integrations/profile/{app}"
    if workspace.team_id:
        team = quote(workspace.team_id, safe="")
        return f"{SLACK_APP_URL}/apps-manage/{team}/integrations/profile/{app}"
    return ""


@dataclass(frozen=True)
class OfferedActions:
    """Which of the page's actions can do something for this workspace (envelopes' presence)."""

    verify: bool
    refresh: bool
    revoke: bool

    def absent(self, *, can_change: bool, can_revoke: bool) -> list[str]:
        """Why each action these permissions allow is left out (one line each)."""
        reasons = []
        if can_change and not self.verify:
            reasons.append("Verify now: no bot token is stored for this workspace.")
        if can_change and not self.refresh:
            reasons.append("Refresh tokens now: no refresh token is stored (no token rotation).")
        if can_revoke and not self.revoke:
            reasons.append("Revoke: no token is stored, so there is nothing to revoke.")
        return reasons


def offered_actions(workspace: Workspace) -> OfferedActions:
    current = Installation.objects.filter(workspace=workspace, is_current=True)
    bot = stored_key(workspace, "bot_token").present
    bot_refresh = stored_key(workspace, "bot_refresh_token").present
    return OfferedActions(
        verify=bot,
        refresh=bot_refresh or current.filter(user_refresh_token__isnull=False).exists(),
        revoke=bot or current.filter(user_token__isnull=False).exists(),
    )


def install_history(workspace: Workspace) -> list[dict[str, Any]]:
    """Each completed flow; superseded tokens are erased, so scopes and channel tell the story."""
    kept = ExpressionWrapper(Q(user_token__isnull=False), output_field=BooleanField())
    rows = (
        Installation.objects.filter(workspace=workspace)
        .defer("user_token", "user_refresh_token", "incoming_webhook_url")
        .select_related("installed_by")
        .annotate(user_token_kept=kept)
        .order_by("-installed_at")[:HISTORY_SHOWN]
    )
    return [
        {
            "installed_at": row.installed_at,
            "user_id": _installed_by(row),
            "source": row.get_source_display(),
            "bot_scopes": ", ".join(parse_scopes(row.bot_scopes)) or "—",
            "user_scopes": ", ".join(parse_scopes(row.user_scopes)) or "—",
            "user_token": bool(row.user_scopes) or row.user_token_kept,
            "user_token_state": _user_token_state(row),
            "webhook": row.incoming_webhook_channel or row.incoming_webhook_channel_id or "",
            "is_current": row.is_current,
        }
        for row in rows
    ]


def _installed_by(row: Installation) -> str:
    """The Slack user who approved, and the host site's user who started it when known."""
    slack_user = row.user_id or "—"
    site_user = row.installed_by
    return f"{slack_user} (site user {site_user.get_username()})" if site_user else slack_user


def _user_token_state(row: Installation) -> str:
    if row.deleted_at or row.user_token_revoked_at:
        return "revoked"
    if row.user_token_kept:  # type: ignore[attr-defined]  # history_rows' annotation
        return "kept"
    return "replaced by a later install" if row.user_scopes else "none"


def detail_context(workspace: Workspace) -> dict[str, Any]:
    events = LifecycleEvent.objects.filter(workspace=workspace).order_by("-occurred_at", "-pk")
    return {
        "scope_rows": [
            ("Bot scopes", health.bot_scope_comparison(workspace)),
            ("Installer's user scopes", health.user_scope_comparison(workspace)),
        ],
        "history": install_history(workspace),
        "events": list(events[:EVENTS_SHOWN]),
        "event_count": events.count(),
        "events_shown": EVENTS_SHOWN,
        "offered": offered_actions(workspace),
    }
