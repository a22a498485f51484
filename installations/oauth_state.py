"""OAuth ``state`` values: issued, looked up, consumed once, purged when stale.

RFC 6749 §10.10/§10.12 and RFC 9700 §2.1: 256 random bits, single-use, short-lived, bound to the
browser (the cookie, see ``state_cookie``). Only a SHA-256 hash is stored, so a database read does
not reveal a usable state. Consuming is one conditional DELETE whose row count decides the
winner, so two callbacks carrying one state can never both succeed (checklist test 17).
"""

from __future__ import annotations

import enum
import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from .conf import slack_config
from .models import OAuthState

logger = logging.getLogger(__name__)

STATE_BYTES = 32
# A ceiling on live states: an anonymous page issues them, so the table must not grow without
# bound. Past it the oldest are dropped (their flows then fail with a clear "start again" page).
MAX_LIVE_STATES = 10_000


class StateCheck(enum.Enum):
    LIVE = "live"
    UNKNOWN = "unknown"  # never issued, or already consumed
    EXPIRED = "expired"


def hash_state(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def issue_state(team_hint: str = "") -> str:
    """A new random state; its hash is stored with an expiry (SLACK_STATE_TTL_SECONDS)."""
    state = secrets.token_urlsafe(STATE_BYTES)
    now = timezone.now()
    ttl = timedelta(seconds=slack_config().state_ttl_seconds)
    purge_expired_states(now=now)
    OAuthState.objects.create(
        state_hash=hash_state(state), created_at=now, expires_at=now + ttl, team_hint=team_hint
    )
    _cap_live_states()
    return state


def _cap_live_states() -> None:
    surplus = OAuthState.objects.count() - MAX_LIVE_STATES
    if surplus > 0:
        oldest = OAuthState.objects.order_by("created_at").values_list("pk", flat=True)[:surplus]
        OAuthState.objects.filter(pk__in=list(oldest)).delete()
        logger.warning("dropped %s oldest live OAuth states (cap %s)", surplus, MAX_LIVE_STATES)


def check_state(state: str) -> StateCheck:
    """Whether ``state`` could still be consumed; an expired row is deleted on the way."""
    state_hash = hash_state(state)
    row = OAuthState.objects.filter(state_hash=state_hash).only("expires_at").first()
    if row is None:
        return StateCheck.UNKNOWN
    if row.expires_at <= timezone.now():
        OAuthState.objects.filter(state_hash=state_hash).delete()
        return StateCheck.EXPIRED
    return StateCheck.LIVE


def consume_state(state: str) -> bool:
    """Spend ``state``: True for exactly one caller, only while it is live."""
    with transaction.atomic():
        deleted, _ = OAuthState.objects.filter(
            state_hash=hash_state(state), expires_at__gt=timezone.now()
        ).delete()
    return deleted == 1


def purge_expired_states(*, now: datetime | None = None) -> int:
    """Delete states past their expiry; returns how many went."""
    deleted, _ = OAuthState.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
