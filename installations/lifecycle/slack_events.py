"""Slack's lifecycle events applied to our rows: uninstall, token revocation, team access.

Each event_id is applied once (recorded with its effects); an event older than the latest
install changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from installations.conf import slack_config
from installations.lifecycle.revocation import (
    is_stale,
    mark_bot_revoked,
    mark_uninstalled,
    mark_users_revoked,
)
from installations.lifecycle.saving import record_event
from installations.models import LifecycleEvent, OrgTeamAccess, ProcessedSlackEvent, Workspace
from installations.observability import metrics
from installations.slack.events import Malformed, SlackEvent, _loggable_type, parse_event

logger = logging.getLogger(__name__)

ACTOR = "slack"
PROCESSED_EVENT_TTL = timedelta(days=1)  # Slack stops retrying long before
USER_ID_BATCH = 500  # one `user_id IN (...)` per batch stays under every database's parameter cap


def handle_event(payload: Mapping[str, Any], *, retry_num: int | None = 0) -> str:
    """Apply one event_callback; what happened ("applied", "duplicate", "ignored"...)."""
    try:
        parsed = parse_event(payload)
    except Malformed as exc:
        logger.warning("event (%s) ignored: %s", _loggable_type(payload), exc)
        return "malformed"
    if parsed is None:
        outcome, event_id, kind = "ignored", "-", _loggable_type(payload)
    else:
        outcome, event_id, kind = _apply(parsed), parsed.event_id or "-", parsed.kind
    metrics.event_handled(kind, outcome)
    retry = "?" if retry_num is None else str(retry_num)
    logger.info("event %s (%s): %s; retry %s", event_id, kind, outcome, retry)
    return outcome


def _find(event: SlackEvent) -> Workspace | None:
    """The stored target; tolerant of envelopes without enterprise_id (tokens_revoked's example)."""
    enterprise_id, team_id = event.enterprise_id, event.team_id
    rows = Workspace.objects.filter(client_id=slack_config().client_id)
    found = rows.filter(enterprise_id=enterprise_id, team_id=team_id).first()
    if found is None and team_id and not enterprise_id:
        matches = list(rows.filter(team_id=team_id)[:2])
        found = matches[0] if len(matches) == 1 else None
    if found is None and enterprise_id:  # an org-wide install answers for its workspaces
        found = rows.filter(enterprise_id=enterprise_id, team_id="").first()
    return found


def _apply(event: SlackEvent) -> str:
    workspace = _find(event)
    if workspace is None:
        logger.info("%s for an unknown target: nothing to do", event.kind)
        return "unknown_target"
    if workspace.app_id and event.api_app_id and event.api_app_id != workspace.app_id:
        logger.warning("%s for app %s, but workspace %s belongs to another app: ignored",
                       event.kind, event.api_app_id, workspace.pk)  # fmt: skip
        return "wrong_app"
    with transaction.atomic():
        if event.event_id and not _first_delivery(event.event_id):
            logger.info("%s %s already processed (a retry)", event.kind, event.event_id)
            return "duplicate"
        HANDLERS[event.kind](workspace, event)
    cutoff = timezone.now() - PROCESSED_EVENT_TTL
    ProcessedSlackEvent.objects.filter(received_at__lt=cutoff).delete()
    return "applied"


def _first_delivery(event_id: str) -> bool:
    """True after recording ``event_id``; False when an earlier delivery recorded it. Any other
    refusal of the insert raises: "duplicate" would acknowledge an event never applied."""
    try:
        with transaction.atomic():  # savepoint: a duplicate must not poison the outer transaction
            ProcessedSlackEvent.objects.create(event_id=event_id)
    except IntegrityError:
        if ProcessedSlackEvent.objects.filter(event_id=event_id).exists():
            return False
        raise
    return True


def _key(workspace: Workspace) -> dict[str, str]:
    return {
        "client_id": workspace.client_id,
        "enterprise_id": workspace.enterprise_id,
        "team_id": workspace.team_id,
        "actor": ACTOR,
    }


def _uninstalled(ws: Workspace, event: SlackEvent) -> int:
    return mark_uninstalled(
        **_key(ws), occurred_at=event.occurred_at, slack_event_id=event.event_id
    )


def _tokens_revoked(ws: Workspace, event: SlackEvent) -> int:
    when, event_id = event.occurred_at, event.event_id
    changed = 0
    for start in range(0, len(event.user_ids), USER_ID_BATCH):
        users = list(event.user_ids[start : start + USER_ID_BATCH])
        changed += mark_users_revoked(
            **_key(ws), user_ids=users, occurred_at=when, slack_event_id=event_id
        )
    if event.bot_revoked:
        changed += mark_bot_revoked(**_key(ws), occurred_at=when, slack_event_id=event_id)
    return changed


def _team_access(ws: Workspace, event: SlackEvent) -> int:
    """Keep the list of workspaces an org-wide install covers; older events never win."""
    granted = event.kind == "team_access_granted"
    when = event.occurred_at
    now = when or timezone.now()
    if not ws.is_enterprise_install or not event.team_ids or is_stale(when, ws.installed_at):
        return 0
    changed = []
    for team_id in event.team_ids:
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
                     slack_event_id=event.event_id, occurred_at=now)  # fmt: skip
    return len(changed)


HANDLERS: dict[str, Callable[[Workspace, SlackEvent], int]] = {
    "app_uninstalled": _uninstalled,
    "tokens_revoked": _tokens_revoked,
    "team_access_granted": _team_access,
    "team_access_revoked": _team_access,
}
