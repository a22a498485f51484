"""Events API: request signatures and lifecycle event dispatch (no calls to Slack here).

docs.slack.dev/authentication/verifying-requests-from-slack (HMAC over the raw body, 5-minute
window, via slack_sdk's SignatureVerifier); docs.slack.dev/reference/events/app_uninstalled,
/tokens_revoked, /team_access_granted, /team_access_revoked (slack-facts section 6). Slack
retries deliveries and does not order them, so each event_id is applied once
(ProcessedSlackEvent, inserted in the same transaction as the effects).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from slack_sdk.signature import Clock, SignatureVerifier

from .conf import slack_config
from .models import LifecycleEvent, OrgTeamAccess, ProcessedSlackEvent, Workspace
from .persistence import record_event
from .revocation import is_stale, mark_bot_revoked, mark_uninstalled, mark_users_revoked

logger = logging.getLogger(__name__)

ACTOR = "slack"
PROCESSED_EVENT_TTL = timedelta(days=1)  # Slack stops retrying long before


@sensitive_variables("secret")
def verify_signature(
    body: bytes, headers: Mapping[str, str], *, clock: Clock | None = None
) -> bool:
    """True when ``body`` carries a valid, fresh Slack signature. Logs the reason only."""
    secret = slack_config().signing_secret
    if not secret:
        logger.error("SLACK_SIGNING_SECRET is not set: every event is refused")
        return False
    verifier = SignatureVerifier(secret, clock=clock or Clock())
    try:
        if verifier.is_valid_request(body, dict(headers)):
            return True
    except (UnicodeDecodeError, ValueError, TypeError):
        # slack_sdk decodes the body as UTF-8 and int()s the timestamp header without a guard:
        # a non-UTF-8 body or a timestamp like "abc" is simply not a valid signature.
        pass
    missing = not headers.get("X-Slack-Signature") or not headers.get("X-Slack-Request-Timestamp")
    logger.warning("refused an event: %s", "missing signature" if missing else "bad or stale")
    return False


def _event_time(payload: Mapping[str, Any]) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(payload["event_time"]), tz=UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return None


def _inner(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The event object; team_access_* may come doubly nested (``event.event``)."""
    event = payload.get("event")
    if not isinstance(event, dict):
        return {}
    nested = event.get("event")
    if "type" not in event and isinstance(nested, dict):
        return {**{k: v for k, v in event.items() if k != "event"}, **nested}
    return event


def _target(payload: Mapping[str, Any], event: Mapping[str, Any]) -> tuple[str, str]:
    """(enterprise_id, team_id) of the install the event is about, as stored ("" when absent)."""
    auths = payload.get("authorizations")
    auth = auths[0] if isinstance(auths, list) and auths and isinstance(auths[0], dict) else {}
    enterprise = str(payload.get("enterprise_id") or auth.get("enterprise_id") or "")
    org_wide = bool(auth.get("is_enterprise_install") or payload.get("is_enterprise_install"))
    if org_wide and enterprise:
        return enterprise, ""
    team = str(payload.get("team_id") or auth.get("team_id") or event.get("team_id") or "")
    return enterprise, team


def _find(enterprise_id: str, team_id: str) -> Workspace | None:
    """The stored target; tolerant of envelopes without enterprise_id (tokens_revoked's example)."""
    rows = Workspace.objects.filter(client_id=slack_config().client_id)
    found = rows.filter(enterprise_id=enterprise_id, team_id=team_id).first()
    if found is None and team_id and not enterprise_id:
        matches = list(rows.filter(team_id=team_id)[:2])
        found = matches[0] if len(matches) == 1 else None
    if found is None and enterprise_id:  # an org-wide install answers for its workspaces
        found = rows.filter(enterprise_id=enterprise_id, team_id="").first()
    return found


def handle_event(payload: Mapping[str, Any], *, retry_num: str = "") -> str:
    """Apply one event_callback; returns what happened ("applied", "duplicate", "ignored"...)."""
    event = _inner(payload)
    kind = str(event.get("type") or "")[:64]
    outcome = _apply(payload, event, kind)
    logger.info("event %s (%s): %s; retry %s", str(payload.get("event_id") or "-")[:64],
                kind or "-", outcome, retry_num[:4] or "0")  # fmt: skip
    return outcome


def _apply(payload: Mapping[str, Any], event: dict[str, Any], kind: str) -> str:
    handler = HANDLERS.get(kind)
    if payload.get("type") != "event_callback" or handler is None:
        return "ignored"
    event_id = str(payload.get("event_id") or "")[:64]
    workspace = _find(*_target(payload, event))
    if workspace is None:
        logger.info("%s for an unknown target: nothing to do", kind)
        return "unknown_target"
    api_app_id = str(payload.get("api_app_id") or "")
    if workspace.app_id and api_app_id and api_app_id != workspace.app_id:
        logger.warning("%s for app %s, but workspace %s belongs to another app: ignored",
                       kind, api_app_id, workspace.pk)  # fmt: skip
        return "wrong_app"
    with transaction.atomic():
        if event_id and not _first_delivery(event_id):
            logger.info("%s %s already processed (a retry)", kind, event_id)
            return "duplicate"
        handler(workspace, event, _event_time(payload), event_id)
    ProcessedSlackEvent.objects.filter(
        received_at__lt=timezone.now() - PROCESSED_EVENT_TTL
    ).delete()
    return "applied"


def _first_delivery(event_id: str) -> bool:
    try:
        with transaction.atomic():  # savepoint: a duplicate must not poison the outer transaction
            ProcessedSlackEvent.objects.create(event_id=event_id)
    except IntegrityError:
        return False
    return True


def _key(workspace: Workspace) -> dict[str, str]:
    return {
        "client_id": workspace.client_id,
        "enterprise_id": workspace.enterprise_id,
        "team_id": workspace.team_id,
        "actor": ACTOR,
    }


def _uninstalled(ws: Workspace, event: dict, when: datetime | None, event_id: str) -> int:
    return mark_uninstalled(**_key(ws), occurred_at=when, slack_event_id=event_id)


def _tokens_revoked(ws: Workspace, event: dict, when: datetime | None, event_id: str) -> int:
    tokens = event.get("tokens") if isinstance(event.get("tokens"), dict) else {}
    users = [str(u) for u in tokens.get("oauth") or [] if u]
    changed = 0
    if users:
        changed += mark_users_revoked(
            **_key(ws), user_ids=users, occurred_at=when, slack_event_id=event_id
        )
    if tokens.get("bot"):
        changed += mark_bot_revoked(**_key(ws), occurred_at=when, slack_event_id=event_id)
    return changed


def _team_access(ws: Workspace, event: dict, when: datetime | None, event_id: str) -> int:
    """Keep the list of workspaces an org-wide install covers; older events never win."""
    granted = event.get("type") == "team_access_granted"
    now = when or timezone.now()
    team_ids = [str(t) for t in event.get("team_ids") or [] if t]
    if not ws.is_enterprise_install or not team_ids or is_stale(when, ws.installed_at):
        return 0
    changed = []
    for team_id in team_ids:
        row, created = OrgTeamAccess.objects.select_for_update().get_or_create(
            workspace=ws, team_id=team_id, defaults={"granted_at": now, "revoked_at": None}
        )
        last_change = max(filter(None, [row.granted_at, row.revoked_at]))
        if granted and (created or (row.revoked_at and last_change <= now)):
            row.granted_at, row.revoked_at = now, None
        elif not granted and row.revoked_at is None and row.granted_at <= now:
            row.revoked_at = now
        else:
            continue
        row.save()
        changed.append(team_id)
    if changed:
        kind = "TEAM_ACCESS_GRANTED" if granted else "TEAM_ACCESS_REVOKED"
        record_event(ws, LifecycleEvent.Kind[kind], ACTOR, "workspaces: " + ", ".join(changed),
                     slack_event_id=event_id, occurred_at=now)  # fmt: skip
    return len(changed)


HANDLERS = {
    "app_uninstalled": _uninstalled,
    "tokens_revoked": _tokens_revoked,
    "team_access_granted": _team_access,
    "team_access_revoked": _team_access,
}
