"""What the read-only workspace page shows besides its fields: scopes, history, events, link.

Nothing here decrypts: token cells are built from the stored envelope (presence and key id), and
history rows are loaded with their encrypted columns deferred.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.urls import reverse
from django.utils import formats, timezone
from django.views.decorators.debug import sensitive_variables

from installations.conf import parse_scopes
from installations.encryption.fields import EncryptedDataError, Opened, Sealed
from installations.encryption.keyring import kid_of
from installations.models import Installation, LifecycleEvent, Workspace
from installations.reporting import health

EVENTS_SHOWN = 100
HISTORY_SHOWN = 100


def token_summary(
    instance: Any, field_name: str, expires_at: Any = None, *, check: bool = False
) -> str:
    """ "Present, key id k1, expires …" from the stored envelope; never shows the token.

    With ``check`` (one workspace's page, never the list) the value is opened once to tell
    staff whether the configured keys can still read it; the plaintext is dropped at once.
    """
    field = instance._meta.get_field(field_name)
    value = instance.__dict__.get(field.attname)
    if value is None:
        return "Absent"
    envelope = value.envelope if isinstance(value, (Sealed, Opened)) else None
    kid = kid_of(envelope) if envelope else None
    parts = ["Present", f"key id {kid}" if kid else "key id unknown"]
    if expires_at is not None:
        when = formats.localize(timezone.template_localtime(expires_at))
        parts.append(f"expires {when}")
    if check and isinstance(value, Sealed) and not _readable(field, value, instance.pk):
        parts.append("UNDECRYPTABLE with the configured keys (reinstall or restore the key)")
    return ", ".join(parts)


@sensitive_variables("plaintext")
def _readable(field: Any, sealed: Sealed, row: object) -> bool:
    try:
        plaintext = field.open(sealed, row)
    except EncryptedDataError:
        return False
    del plaintext
    return True


def reinstall_url(workspace: Workspace) -> str:
    """Our install page with the team preselected, on the public origin of the redirect URI.

    Slack's authorize ``team`` parameter (docs.slack.dev/authentication/installing-with-oauth)
    takes a workspace id; an org-wide install has none (an org admin picks the org on Slack),
    so its link is the plain install page.
    """
    origin = urlsplit(settings.SLACK_REDIRECT_URI)
    query = f"?{urlencode({'team': workspace.team_id})}" if workspace.team_id else ""
    return f"{origin.scheme}://{origin.netloc}{reverse('slack-install')}{query}"


def scope_rows(workspace: Workspace) -> list[tuple[str, health.ScopeComparison]]:
    return [
        ("Bot scopes", health.bot_scope_comparison(workspace)),
        ("Installer's user scopes", health.user_scope_comparison(workspace)),
    ]


def install_history(workspace: Workspace) -> list[dict[str, Any]]:
    """Each completed flow; superseded tokens are erased, so scopes and channel tell the story."""
    rows = (
        Installation.objects.filter(workspace=workspace)
        .defer("user_token", "user_refresh_token", "incoming_webhook_url")
        .annotate(
            user_token_kept=ExpressionWrapper(
                Q(user_token__isnull=False), output_field=BooleanField()
            )
        )
        .order_by("-installed_at")[:HISTORY_SHOWN]
    )
    return [
        {
            "installed_at": row.installed_at,
            "user_id": row.user_id or "—",
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


def _user_token_state(row: Installation) -> str:
    if row.deleted_at or row.user_token_revoked_at:
        return "revoked"
    if row.user_token_kept:
        return "kept"
    return "replaced by a later install" if row.user_scopes else "none"


def lifecycle_events(workspace: Workspace) -> tuple[list[LifecycleEvent], int]:
    events = LifecycleEvent.objects.filter(workspace=workspace).order_by("-occurred_at", "-pk")
    return list(events[:EVENTS_SHOWN]), events.count()


def detail_context(workspace: Workspace) -> dict[str, Any]:
    events, event_count = lifecycle_events(workspace)
    return {
        "scope_rows": scope_rows(workspace),
        "history": install_history(workspace),
        "events": events,
        "event_count": event_count,
        "events_shown": EVENTS_SHOWN,
    }
