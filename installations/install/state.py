"""OAuth ``state`` values: signed and self-expiring when issued, recorded only once spent.

The install page is anonymous, so issuing writes nothing (docs/security.md, "OAuth state"): a
state is ``django.core.signing`` (salted per use) over a nonce, its expiry, the ``team`` hint and
a hash of the browser's binding value. Spending is one INSERT of its SHA-256 under a unique
constraint, so exactly one callback gets in; an expired state is refused by its signature alone,
so single use never depends on the purge. ``read_state`` turns any string into a ``StateRead``
(``INVALID`` for anything not ours), never an exception. No rate limit: it would key on IP
addresses, which many people share.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import re
import secrets
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core import signing
from django.db import IntegrityError, router, transaction
from django.utils import timezone

from installations.conf import slack_config
from installations.models import OAuthState

logger = logging.getLogger(__name__)

INSTALL_SALT = "installations.install.state.install"
BOLT_SALT = "installations.install.state.bolt"
NONCE_BYTES = 16  # 128 random bits: uniqueness; unforgeability comes from the signature
SEPARATOR = "."  # not ":" (Django's default): a state goes into URLs and cookies unencoded
# A real state, even with a "next" page, stays far below the ceiling; longer is never decoded.
MAX_STATE_LENGTH = 1000
STATE_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,950}\.[A-Za-z0-9_-]{43}")
PAYLOAD_KEYS = frozenset({"n", "i", "e", "t", "b"})
NEXT_KEY = "x"  # present only when the install page was given a safe ?next=
PKCE_KEY = "p"  # true, present only when the authorize URL carried a PKCE challenge (pkce.py)
OPTIONAL_KEYS = frozenset({NEXT_KEY, PKCE_KEY})


class StateCheck(enum.Enum):
    LIVE = "live"
    INVALID = "invalid"  # not a state we issued (malformed, tampered, signed with another salt)
    EXPIRED = "expired"


@dataclass(frozen=True)
class StatePayload:
    nonce: str
    issued_at: datetime
    expires_at: datetime
    team_hint: str
    browser: str  # hash of the browser's binding value; "" for Bolt's states (Bolt binds itself)
    next_page: str = ""  # a same-site path checked by next_page.clean_next; "" for none
    pkce: bool = False  # the authorize URL carried a challenge: the exchange sends a verifier


@dataclass(frozen=True)
class StateRead:
    check: StateCheck
    payload: StatePayload | None = None


INVALID = StateRead(StateCheck.INVALID)


def hash_state(state: str) -> str:
    """What is stored of a spent state: a database read never yields a state to replay."""
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def _signer(salt: str) -> signing.Signer:
    # Built per call: the key (and SECRET_KEY_FALLBACKS, honoured by Signer) may change in tests.
    return signing.Signer(salt=salt, sep=SEPARATOR)


def issue_state(
    team_hint: str = "",
    *,
    browser: str = "",
    ttl_seconds: int | None = None,
    salt: str = INSTALL_SALT,
    now: datetime | None = None,
    next_page: str = "",
    pkce: bool = False,
) -> str:
    """A new state; writes nothing. ``browser`` is the hash from ``state_cookie.binding``;
    ``pkce`` records that the authorize URL for it carries a PKCE challenge."""
    issued = int((now or timezone.now()).timestamp())
    ttl = slack_config().state_ttl_seconds if ttl_seconds is None else ttl_seconds
    payload = {
        "n": secrets.token_urlsafe(NONCE_BYTES),
        "i": issued,
        "e": issued + ttl,
        "t": team_hint,
        "b": browser,
    }
    if next_page:
        payload[NEXT_KEY] = next_page
    if pkce:
        payload[PKCE_KEY] = True
    return _signer(salt).sign_object(payload)


def read_state(
    state: object, *, salt: str = INSTALL_SALT, now: datetime | None = None
) -> StateRead:
    """What ``state`` is: LIVE (with its payload), EXPIRED (with it) or INVALID. Never raises."""
    if not isinstance(state, str) or len(state) > MAX_STATE_LENGTH:
        return INVALID
    if not STATE_PATTERN.fullmatch(state):  # ASCII only from here on: nothing fails to encode
        return INVALID
    try:
        raw = _signer(salt).unsign_object(state)
    except (signing.BadSignature, ValueError):  # ValueError: JSON / base64 / UTF-8 decoding
        return INVALID
    payload = _payload(raw)
    if payload is None:
        return INVALID
    if payload.expires_at <= (now or timezone.now()):
        return StateRead(StateCheck.EXPIRED, payload)
    return StateRead(StateCheck.LIVE, payload)


def _payload(raw: Any) -> StatePayload | None:
    """The typed payload, or None for a shape we never sign (a signed value of another kind)."""
    if not isinstance(raw, dict) or set(raw) - OPTIONAL_KEYS != PAYLOAD_KEYS:
        return None
    nonce, issued, expires, team, browser = (raw[k] for k in ("n", "i", "e", "t", "b"))
    next_page = raw.get(NEXT_KEY, "")
    if not all(isinstance(value, str) for value in (nonce, team, browser, next_page)):
        return None
    if PKCE_KEY in raw and raw[PKCE_KEY] is not True:
        return None
    if not all(type(value) is int for value in (issued, expires)):  # bool is not a time
        return None
    try:
        issued_at = datetime.fromtimestamp(issued, tz=UTC)
        expires_at = datetime.fromtimestamp(expires, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return StatePayload(
        nonce, issued_at, expires_at, team, browser, next_page, pkce=PKCE_KEY in raw
    )


def is_bound_to(payload: StatePayload, browser: str) -> bool:
    """Whether the state was issued to the browser whose binding hash is ``browser``."""
    return bool(payload.browser) and hmac.compare_digest(payload.browser, browser)


def consume_state(state: str, payload: StatePayload) -> bool:
    """Spend a LIVE state: True for exactly one caller (the unique hash decides). One INSERT in
    autocommit (a savepoint inside a caller's transaction, so a duplicate leaves it usable);
    the records of states that have expired anyway go first, at most once per ``PURGE_EVERY``
    (a purge that fails has spent nothing: the state still works)."""
    now = timezone.now()
    using = router.db_for_write(OAuthState)
    inside = transaction.get_connection(using).in_atomic_block
    try:
        with transaction.atomic(using=using) if inside else nullcontext():
            if _purge_clock.due(now):
                purge_expired_states(now=now)
            OAuthState.objects.create(
                state_hash=hash_state(state), spent_at=now, expires_at=payload.expires_at
            )
    except IntegrityError:
        return False  # spent before, or a concurrent callback won the race
    return True


class PurgeClock:
    """When a spend also purges: at most once per ``every`` in this process, the first spend
    included. Records only need to go eventually (``slack_purge_states`` runs hourly); two
    threads racing purge twice, harmlessly. A clock set back is no reason to wait."""

    def __init__(self, every: timedelta) -> None:
        self.every = every
        self.next_at: datetime | None = None

    def due(self, now: datetime) -> bool:
        if self.next_at is not None and now < self.next_at <= now + self.every:
            return False
        self.next_at = now + self.every
        return True


PURGE_EVERY = timedelta(minutes=1)
_purge_clock = PurgeClock(PURGE_EVERY)


def purge_expired_states(*, now: datetime | None = None) -> int:
    """Delete the records of spent states that have expired anyway; returns how many went."""
    deleted, _ = OAuthState.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
