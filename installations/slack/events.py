"""Slack's Events API payloads: a signed body parsed into one typed ``SlackEvent``.

docs/slack-protocol.md §6. A field of a type or form Slack does not document makes the event
``Malformed``: logged and acknowledged, never a 500 (a retry would carry the same body).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger(__name__)

# The events this app applies (lifecycle/slack_events.py); any other type is acknowledged.
LIFECYCLE_KINDS = frozenset(
    {"app_uninstalled", "tokens_revoked", "team_access_granted", "team_access_revoked"}
)
MAX_CHALLENGE_LENGTH = 1024  # Slack's url_verification challenge is about 50 characters
SLACK_ID = re.compile(r"[A-Za-z0-9]{1,32}")  # T…, E…, U…, W…, A…: fits every id column (32)
EVENT_ID = re.compile(r"[A-Za-z0-9]{1,64}")  # Ev…: fits ProcessedSlackEvent.event_id (64)
LOGGABLE_TYPE = re.compile(r"[a-z0-9_.]{1,64}")
MAX_EVENT_TIME = 32_503_680_000  # 3000-01-01: a later event_time is not one Slack sent


class Malformed(ValueError):
    """A signed event_callback whose field ``field`` is not of the type or form Slack documents."""

    def __init__(self, field: str) -> None:
        super().__init__(f"malformed {field}")
        self.field = field


def url_verification_challenge(payload: Mapping[str, Any]) -> str | None:
    """The challenge to echo (docs.slack.dev/reference/events/url_verification), if well formed."""
    challenge = payload.get("challenge")
    if isinstance(challenge, str) and 0 < len(challenge) <= MAX_CHALLENGE_LENGTH:
        return challenge
    return None


@dataclass(frozen=True)
class SlackEvent:
    """One lifecycle event_callback, every field checked for type and form."""

    kind: str
    event_id: str
    api_app_id: str
    enterprise_id: str  # of the install the event is about, as stored ("" when absent)
    team_id: str
    occurred_at: datetime | None
    user_ids: tuple[str, ...] = ()  # tokens_revoked: tokens.oauth
    bot_revoked: bool = False  # tokens_revoked: tokens.bot not empty
    team_ids: tuple[str, ...] = ()  # team_access_*: event.team_ids


def _checked_id(value: Any, field: str, pattern: re.Pattern[str] = SLACK_ID) -> str:
    """The id when well formed (a full match: no NUL, no newline, short enough for its column);
    an empty string for null or ""; else Malformed."""
    if value is None or value == "":
        return ""
    if isinstance(value, str) and pattern.fullmatch(value):
        return value
    raise Malformed(field)


def _id(source: Mapping[str, Any], key: str, pattern: re.Pattern[str] = SLACK_ID) -> str:
    return _checked_id(source.get(key), key, pattern)


def _ids(source: Mapping[str, Any], key: str) -> tuple[str, ...]:
    """A list of ids (order kept, repeats dropped); absent or null is empty."""
    value = source.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise Malformed(key)
    ids = (_checked_id(item, key) for item in value)
    return tuple(dict.fromkeys(i for i in ids if i))


def _flag(source: Mapping[str, Any], key: str) -> bool:
    value = source.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    raise Malformed(key)


def _object(source: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = source.get(key)
    if value is None or isinstance(value, dict):
        return value or {}
    raise Malformed(key)


def _event_time(payload: Mapping[str, Any]) -> datetime | None:
    value = payload.get("event_time")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Malformed("event_time")
    if isinstance(value, float) and not math.isfinite(value):  # before any int/float mixing
        raise Malformed("event_time")
    if not 0 <= value <= MAX_EVENT_TIME:  # compared as given: int(10**400) is no float
        raise Malformed("event_time")
    return datetime.fromtimestamp(int(value), tz=UTC)


def _inner(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The event object; team_access_* may come doubly nested (``event.event``)."""
    event = _object(payload, "event")
    nested = event.get("event")
    if "type" not in event and isinstance(nested, dict):
        return {**{k: v for k, v in event.items() if k != "event"}, **nested}
    return event


def _first_authorization(payload: Mapping[str, Any]) -> dict[str, Any]:
    auths = payload.get("authorizations")
    if auths is None or auths == []:
        return {}
    if not isinstance(auths, list) or not isinstance(auths[0], dict):
        raise Malformed("authorizations")
    return auths[0]


def _target(
    payload: Mapping[str, Any], event: Mapping[str, Any], auth: Mapping[str, Any]
) -> tuple[str, str]:
    """(enterprise_id, team_id) of the install the event is about, as stored ("" when absent)."""
    enterprise = _id(payload, "enterprise_id") or _id(auth, "enterprise_id")
    org_wide = _flag(auth, "is_enterprise_install") or _flag(payload, "is_enterprise_install")
    team = _id(payload, "team_id") or _id(auth, "team_id") or _id(event, "team_id")
    return (enterprise, "") if org_wide and enterprise else (enterprise, team)


def event_kind(payload: Mapping[str, Any]) -> str:
    """The inner event's type when it is one we handle, else ""."""
    if payload.get("type") != "event_callback":
        return ""
    try:
        kind = _inner(payload).get("type")
    except Malformed:
        return ""
    return kind if isinstance(kind, str) and kind in LIFECYCLE_KINDS else ""


def parse_event(payload: Mapping[str, Any]) -> SlackEvent | None:
    """The lifecycle event in ``payload``; None when it is not one we handle; Malformed when it is
    one of ours with a field of the wrong type or form."""
    kind = event_kind(payload)
    if not kind:
        return None
    event = _inner(payload)
    enterprise_id, team_id = _target(payload, event, _first_authorization(payload))
    tokens = _object(event, "tokens") if kind == "tokens_revoked" else {}
    return SlackEvent(
        kind=kind,
        event_id=_id(payload, "event_id", EVENT_ID),
        api_app_id=_id(payload, "api_app_id"),
        enterprise_id=enterprise_id,
        team_id=team_id,
        occurred_at=_event_time(payload),
        user_ids=_ids(tokens, "oauth"),
        bot_revoked=bool(_ids(tokens, "bot")),
        team_ids=_ids(event, "team_ids") if kind.startswith("team_access_") else (),
    )


def _loggable_type(payload: Mapping[str, Any]) -> str:
    event = payload.get("event")
    kind = event.get("type") if isinstance(event, dict) else None
    return kind if isinstance(kind, str) and LOGGABLE_TYPE.fullmatch(kind) else "-"
