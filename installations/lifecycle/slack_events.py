"""Events API: request signatures, the shape of lifecycle events, and their dispatch (no calls to
Slack here).

Signatures (docs.slack.dev/authentication/verifying-requests-from-slack): HMAC-SHA256 over
``v0:<timestamp>:<raw body>`` with the signing secret, a five-minute replay window. We compute it
ourselves over bytes instead of calling slack_sdk's ``SignatureVerifier``, because that verifier
trusts its inputs: it ``int()``s the timestamp (so Arabic-Indic digits or `` 12`` pass, and a
400-digit timestamp raises ``OverflowError`` when subtracted from the clock), decodes the body as
UTF-8, and compares ``str`` digests (``TypeError`` on non-ASCII). An anonymous request must never
raise: here each header is first checked against a full-match pattern (ASCII digits of bounded
length, ``v0=`` and 64 lowercase hex digits), then the digest is compared as bytes with
``hmac.compare_digest``; whatever the headers hold, the answer is "valid" or a short reason.

Events (docs.slack.dev/reference/events/app_uninstalled, /tokens_revoked, /team_access_granted,
/team_access_revoked): a signed payload is parsed into one typed ``SlackEvent`` in one place;
a field of a type or form Slack does not document (``tokens.oauth`` a string, an id holding a NUL
byte or 40 characters, ``event_time`` a list or ``1e300``) makes the event ``Malformed``: it is
logged and acknowledged, never a 500 (a retry would carry the same body). Slack retries deliveries
and does not order them, so each event_id is applied once (ProcessedSlackEvent, inserted in the
same transaction as the effects). See docs/security.md, "§6 The Events API".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from slack_sdk.signature import Clock

from installations.conf import slack_config
from installations.models import LifecycleEvent, OrgTeamAccess, ProcessedSlackEvent, Workspace
from installations.persistence import record_event
from installations.revocation import (
    is_stale,
    mark_bot_revoked,
    mark_uninstalled,
    mark_users_revoked,
)

logger = logging.getLogger(__name__)

ACTOR = "slack"
PROCESSED_EVENT_TTL = timedelta(days=1)  # Slack stops retrying long before

# --- Signatures ----------------------------------------------------------------------------------
TIMESTAMP_HEADER = "x-slack-request-timestamp"
SIGNATURE_HEADER = "x-slack-signature"
SIGNATURE_VERSION = "v0"
REPLAY_WINDOW_SECONDS = 300
# Unix seconds in ASCII digits only ("[0-9]": "\d" also matches other scripts' digits); 12 digits
# reach the year 33658, so int() of it is cheap and subtracting it from the clock cannot overflow.
TIMESTAMP = re.compile(r"[0-9]{1,12}")
SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")  # what hexdigest() produces; anything else cannot match

# --- Payloads ------------------------------------------------------------------------------------
# Slack's envelopes nest four levels; even rich-text message events stay far below this. Deeper JSON
# is refused (json.loads itself raises RecursionError near Python's recursion limit).
MAX_JSON_DEPTH = 64
MAX_CHALLENGE_LENGTH = 1024  # Slack's url_verification challenge is about 50 characters
SLACK_ID = re.compile(r"[A-Za-z0-9]{1,32}")  # T…, E…, U…, W…, A…: fits every id column (32)
EVENT_ID = re.compile(r"[A-Za-z0-9]{1,64}")  # Ev…: fits ProcessedSlackEvent.event_id (64)
LOGGABLE_TYPE = re.compile(r"[a-z0-9_.]{1,64}")
MAX_EVENT_TIME = 32_503_680_000  # 3000-01-01: a later event_time is not one Slack sent
USER_ID_BATCH = 500  # one `user_id IN (...)` per batch stays under every database's parameter cap


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    """A header by case-insensitive name; ``""`` for a value that is not text."""
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if str(k).lower() == name), None)
    if value is None:
        return None
    return value if isinstance(value, str) else ""


@sensitive_variables("secret")
def verify_signature(
    body: bytes, headers: Mapping[str, Any], *, clock: Clock | None = None
) -> bool:
    """True when ``body`` carries a valid, fresh Slack signature. Logs the reason only.

    Never raises for any header value or body: see the module docstring for why this does not
    call slack_sdk's SignatureVerifier.
    """
    secret = slack_config().signing_secret
    if not secret:
        logger.error("SLACK_SIGNING_SECRET is not set: every event is refused")
        return False
    problem = signature_problem(
        secret,
        body,
        _header(headers, TIMESTAMP_HEADER),
        _header(headers, SIGNATURE_HEADER),
        now=(clock or Clock()).now(),
    )
    if problem:
        logger.warning("refused an event: %s", problem)
        return False
    return True


@sensitive_variables()  # every local here, and in every frame below, is hidden from error pages
def signature_problem(
    secret: str, body: bytes, timestamp: str | None, signature: str | None, *, now: float
) -> str | None:
    """None when ``signature`` is Slack's for ``timestamp`` and ``body``; else a short reason.

    The reason never quotes a header: the expected digest is a valid signature for this body, and
    header values are the sender's text.
    """
    if not timestamp or not signature:
        return "missing signature"
    if not TIMESTAMP.fullmatch(timestamp):
        return "malformed timestamp"
    if abs(now - int(timestamp)) > REPLAY_WINDOW_SECONDS:
        return "stale timestamp"
    if not SIGNATURE.fullmatch(signature):
        return "malformed signature"
    signed = b"%s:%s:%s" % (SIGNATURE_VERSION.encode(), timestamp.encode("ascii"), body)
    expected = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    given = signature[len(SIGNATURE_VERSION) + 1 :]
    if not hmac.compare_digest(expected.encode("ascii"), given.encode("ascii")):
        return "bad signature"
    return None


# --- Parsing -------------------------------------------------------------------------------------
class Malformed(ValueError):
    """A signed event_callback whose field ``field`` is not of the type or form Slack documents."""

    def __init__(self, field: str) -> None:
        super().__init__(f"malformed {field}")
        self.field = field


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python accepts them, RFC 8259 not


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether containers nest more than ``limit`` levels (iterative: no recursion to exhaust)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def parse_payload(body: bytes) -> dict[str, Any] | None:
    """The signed body as a JSON object; None when it is not one (not JSON, not UTF-8, NaN,
    nested deeper than MAX_JSON_DEPTH, a number too long to convert)."""
    try:
        value = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
    if not isinstance(value, dict) or _deeper_than(value, MAX_JSON_DEPTH):
        return None
    return value


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
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
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
    return kind if isinstance(kind, str) and kind in HANDLERS else ""


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


# --- Dispatch ------------------------------------------------------------------------------------
def _loggable_type(payload: Mapping[str, Any]) -> str:
    event = payload.get("event")
    kind = event.get("type") if isinstance(event, dict) else None
    return kind if isinstance(kind, str) and LOGGABLE_TYPE.fullmatch(kind) else "-"


def handle_event(payload: Mapping[str, Any], *, retry_num: int | None = 0) -> str:
    """Apply one event_callback; returns what happened ("applied", "duplicate", "ignored",
    "malformed"...). Never raises for the payload's shape."""
    try:
        parsed = parse_event(payload)
    except Malformed as exc:
        logger.warning("event (%s) ignored: %s", _loggable_type(payload), exc)
        return "malformed"
    if parsed is None:
        outcome, event_id, kind = "ignored", "-", _loggable_type(payload)
    else:
        outcome, event_id, kind = _apply(parsed), parsed.event_id or "-", parsed.kind
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


def _batches(items: tuple[str, ...], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _uninstalled(ws: Workspace, event: SlackEvent) -> int:
    return mark_uninstalled(
        **_key(ws), occurred_at=event.occurred_at, slack_event_id=event.event_id
    )


def _tokens_revoked(ws: Workspace, event: SlackEvent) -> int:
    when, event_id = event.occurred_at, event.event_id
    changed = 0
    for users in _batches(event.user_ids, USER_ID_BATCH):
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
