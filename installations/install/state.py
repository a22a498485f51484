"""OAuth ``state`` values: signed and self-expiring when issued, recorded only once spent.

Why this design (docs/security.md, "OAuth state"): the install page is anonymous, so anything it
writes per visit can be flooded. The old design stored every issued state and dropped the oldest
past a global cap, which let anyone evict the states of people halfway through installing. Now:

* Issuing writes nothing. A state is ``django.core.signing`` over a small JSON payload: a random
  nonce (so two states never collide), the issue time and expiry, the ``team`` hint, and a hash
  of the browser's binding value (``state_cookie``). Its HMAC (keyed by ``DJANGO_SECRET_KEY``,
  salted per use, so a state of the install page is no Bolt state and no other signed value of
  the app) makes it unforgeable; its expiry travels with it, so an expired state reads "expired"
  whether or not anything was ever stored about it.
* Spending is one INSERT of the state's SHA-256 into a table with a unique constraint: of two
  callbacks carrying one state, the database lets exactly one in (RFC 6749 §10.12 / RFC 9700
  §2.1: single use). A row lives until the state's own expiry, then is purged (by a spend, at
  most once a minute per process, and by ``slack_purge_states``); after that the state is
  refused as expired by its signature alone. Single use never depends on the purge: a state is
  spent only while it is live, and a row goes only once that same state has expired.

A flood of install-page visits therefore costs no row and cannot touch anyone's state; each
spent row costs an attacker a full round trip through the callback and goes when it expires.
No rate limit is applied: one would key on an IP address, which many people can share, and it
would then refuse real installs, while the design above has nothing left to protect with it.

``read_state`` is the one parser of a state coming back from outside: any string at all gives a
``StateRead`` (``INVALID`` for anything not issued by us), never an exception.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from django.core import signing
from django.db import IntegrityError, connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field
from django.utils import timezone

from installations.conf import slack_config
from installations.models import OAuthState

logger = logging.getLogger(__name__)

INSTALL_SALT = "installations.install.state.install"
BOLT_SALT = "installations.install.state.bolt"
NONCE_BYTES = 16  # 128 random bits: uniqueness; unforgeability comes from the signature
SEPARATOR = "."  # not ":" (Django's default): a state goes into URLs and cookies unencoded
# base64url(JSON payload) "." base64url(HMAC-SHA256). A team id is at most 32 characters, so a
# real state stays far below the ceiling; anything longer is not ours and is never decoded.
# An optional "next" page (``x``, at most MAX_NEXT_LENGTH characters: next_page.py) makes a
# state longer; it stays well under the length of a URL anyone truncates.
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
    """Spend a LIVE state: True for exactly one caller. One INSERT; the unique hash decides."""
    now = timezone.now()
    spent = OAuthState(state_hash=hash_state(state), spent_at=now, expires_at=payload.expires_at)
    if not _insert_unless_spent(spent):
        return False  # spent before, or a concurrent callback won the race
    if _purge_clock.due(now):
        purge_expired_states(now=now)
    return True


# PostgreSQL and SQLite (>= 3.24) both have INSERT ... ON CONFLICT DO NOTHING: a duplicate is
# then a row count of 0 instead of an error, so no savepoint is needed inside a transaction.
ON_CONFLICT_VENDORS = frozenset({"postgresql", "sqlite"})
SPENT_COLUMNS = ("state_hash", "spent_at", "expires_at")  # state_hash first: the conflict
_spend_sql: dict[str, str] = {}  # per connection alias: built once per process


@cache  # the model's fields do not change in a process; the spend is on every callback
def _spent_fields() -> tuple[Field[Any, Any], ...]:
    by_name = {field.name: field for field in OAuthState._meta.concrete_fields}
    return tuple(by_name[name] for name in SPENT_COLUMNS)


def _spend_statement(connection: BaseDatabaseWrapper) -> str:
    sql = _spend_sql.get(connection.alias)
    if sql is None:
        quote = connection.ops.quote_name
        fields = _spent_fields()
        columns = ", ".join(quote(str(field.column)) for field in fields)
        table = quote(OAuthState._meta.db_table)
        sql = _spend_sql[connection.alias] = (
            # Identifiers only, from the model's own metadata, quoted; every value a parameter.
            f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s) "  # noqa: S608
            f"ON CONFLICT ({quote(str(fields[0].column))}) DO NOTHING"  # the unique state_hash
        )
    return sql


def _insert_unless_spent(spent: OAuthState) -> bool:
    """Record ``spent``; False when its hash is recorded already. Built once per process on
    PostgreSQL and SQLite (Django compiled the same INSERT anew for every callback); the ORM's
    INSERT, inside a savepoint when a transaction is open, on any other database."""
    connection = connections[router.db_for_write(OAuthState)]
    if connection.vendor in ON_CONFLICT_VENDORS:
        values = [
            field.get_db_prep_save(getattr(spent, field.attname), connection)
            for field in _spent_fields()
        ]
        with connection.cursor() as cursor:
            cursor.execute(_spend_statement(connection), values)
            return bool(cursor.rowcount == 1)
    try:
        if connection.in_atomic_block:
            with transaction.atomic(using=connection.alias):  # savepoint: keep the caller's
                spent.save(force_insert=True)
        else:
            spent.save(force_insert=True)  # autocommit: one statement, no BEGIN / COMMIT
    except IntegrityError:
        return False
    return True


class PurgeClock:
    """Says when a spend should purge expired records: at most once per ``every`` in this
    process. Purging on every spend was half the cost of spending a state (issue 15); the
    records only need to go eventually, and a race between two threads purges twice, harmlessly.
    Read on the state's own clock (``timezone.now()``); a clock set back is no reason to wait."""

    def __init__(self, every: timedelta) -> None:
        self.every = every
        self.next_at: datetime | None = None  # the first spend of a process purges

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
