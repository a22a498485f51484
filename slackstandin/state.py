"""What the stand-in remembers: recorded calls, queued faults, codes, tokens and installs.

Plain data plus one lock (``StandInState.lock``); the protocol rules live in ``oauth.py`` and
``methods.py``. Ids and names are the stand-in's defaults (obviously fake, never real Slack ids).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .pkce import Challenge

DEFAULT_TEAM_ID = "T0STANDIN1"
DEFAULT_TEAM_NAME = "Stand-in Workspace"
DEFAULT_ENTERPRISE_ID = "E0STANDIN1"
DEFAULT_ENTERPRISE_NAME = "Stand-in Org"
BOT_USER_ID = "U0STANDINBOT"
BOT_ID = "B0STANDIN"
INSTALLER_USER_ID = "U0STANDINUSR"
APP_ID = "A0STANDIN"
ROTATION_SECONDS = 43200  # docs.slack.dev/authentication/using-token-rotation: always 12 h
CODE_TTL_SECONDS = 600  # docs.slack.dev/authentication/installing-with-oauth: codes live 10 min


@dataclass(frozen=True)
class Call:
    """One API request as the stand-in received it (header keys lower-case)."""

    method: str
    http_method: str
    path: str
    headers: dict[str, str]
    params: dict[str, str]
    token: str | None
    basic_auth: tuple[str, str] | None


NO_BODY: Any = object()  # "no replacement body" (``body=None`` answers JSON null)


@dataclass
class Fault:
    """A queued misbehaviour for the next call(s) of one method.

    Faults that replace the answer (an error, a non-200 status, ``html``, ``body``, ``raw``,
    ``huge``, ``redirect``) do no work: no code is spent, no token issued. The others deliver
    the real answer badly (``patch``, ``truncate``, ``trickle``, ``charset``, ``content_type``,
    ``delay``), so whatever it issued was issued.
    """

    error: str | None = None
    status: int = 200
    retry_after: int | str | None = None
    delay: float = 0.0
    drop: bool = False
    times: int = 1
    html: bool = False  # an HTML error page, as a proxy or load balancer sends
    body: Any = NO_BODY  # any JSON value, instead of the answer
    raw: bytes | None = None  # these bytes, instead of the answer
    content_type: str | None = None  # the Content-Type header, whatever the body
    charset: str | None = None  # the answer's text encoded in this charset, and declared
    patch: dict[str, Any] | None = None  # dotted paths set on the real answer (wrong types)
    truncate: int | None = None  # send only the first N bytes (Content-Length says N)
    huge: int = 0  # an answer of this many bytes, streamed without Content-Length
    trickle: float = 0.0  # seconds between single bytes of the answer
    redirect: str | None = None  # a 3xx to this Location

    @property
    def replaces_answer(self) -> bool:
        return (
            self.error is not None
            or self.status != 200
            or self.html
            or self.body is not NO_BODY
            or self.raw is not None
            or self.huge > 0
            or self.redirect is not None
        )


@dataclass
class Grant:
    """What the user approved on the authorize page; redeemed once for tokens."""

    code: str
    client_id: str
    redirect_uri: str | None
    scope: str
    user_scope: str
    org_wide: bool
    webhook_channel: str
    rotation: bool
    team_id: str | None
    enterprise_id: str | None
    created_at: float = field(default_factory=time.time)
    used: bool = False
    code_challenge: Challenge | None = None  # when the authorize request carried one (PKCE)


@dataclass
class TokenRecord:
    """A token the stand-in issued; ``kind`` is bot, user or refresh."""

    token: str
    kind: str
    team_id: str | None
    team_name: str | None
    enterprise_id: str | None
    enterprise_name: str | None
    user_id: str
    scopes: str
    is_enterprise_install: bool
    expires_at: float | None = None
    revoked: bool = False
    error: str | None = None
    refreshes: str | None = None  # for refresh tokens: "bot" or "user"
    pair: str | None = None  # for refresh tokens: the access token they renew
    used: bool = False

    @property
    def rotating(self) -> bool:
        return self.expires_at is not None or self.kind == "refresh"

    def info(self) -> dict[str, Any]:
        data = asdict(self)
        # Token values stay out of the dict, so printing it in a failing test leaks nothing.
        data.pop("token")
        data.pop("pair")
        data["rotating"] = self.rotating
        data["bot_id"] = BOT_ID if self.kind == "bot" else None
        return data


@dataclass
class Install:
    """One completed install, for the demo page and uninstall()."""

    team_id: str | None
    team_name: str | None
    enterprise_id: str | None
    enterprise_name: str | None
    is_enterprise_install: bool
    installed_at: float = field(default_factory=time.time)
    uninstalled: bool = False


def team_name_for(team_id: str) -> str:
    return DEFAULT_TEAM_NAME if team_id == DEFAULT_TEAM_ID else f"Stand-in Workspace {team_id}"


def enterprise_name_for(enterprise_id: str) -> str:
    if enterprise_id == DEFAULT_ENTERPRISE_ID:
        return DEFAULT_ENTERPRISE_NAME
    return f"Stand-in Org {enterprise_id}"


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "standin"


def new_hex(nbytes: int = 12) -> str:
    return secrets.token_hex(nbytes)


class StandInState:
    """Everything mutable, guarded by ``lock`` (the server answers from many threads)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.calls: list[Call] = []
        self.faults: dict[str, deque[Fault]] = {}
        self.grants: dict[str, Grant] = {}
        self.tokens: dict[str, TokenRecord] = {}
        self.installs: list[Install] = []
        self.issued: list[dict[str, Any]] = []
        # Answers that issued tokens but never reached the client whole (truncated, trickled
        # past its deadline, a token patched away): nobody can revoke what it never read.
        self.lost: list[dict[str, Any]] = []
        self.in_flight = 0  # API requests being answered right now
        self.connections = 0  # TCP connections accepted (kept alive, each carries many)
        self.code_ttl_seconds: float = CODE_TTL_SECONDS
        # Messages the app sent (chat.postMessage, response_url): messaging.py.
        from .messaging import Outbox

        self.outbox = Outbox()

    def record(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)

    def queue_fault(self, method: str, fault: Fault) -> None:
        with self.lock:
            self.faults.setdefault(method, deque()).append(fault)

    def take_fault(self, method: str) -> Fault | None:
        """The fault for this call, counting down its ``times``."""
        with self.lock:
            queue = self.faults.get(method)
            if not queue:
                return None
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.popleft()
            return fault

    def add_token(self, record: TokenRecord) -> TokenRecord:
        with self.lock:
            self.tokens[record.token] = record
        return record

    def token(self, token: str) -> TokenRecord:
        """The record for a token the stand-in issued; KeyError otherwise."""
        with self.lock:
            record = self.tokens.get(token)
        if record is None:
            raise KeyError("unknown token (not issued by this stand-in)")
        return record

    def revoke_team(self, team_id: str | None, enterprise_id: str | None) -> Install | None:
        """Revoke every token of one install target; returns its latest install, if any.

        ``enterprise_id=None`` matches a workspace whatever org it is in; ``team_id=None`` with
        an ``enterprise_id`` is the org-wide install.
        """
        latest: Install | None = None
        with self.lock:
            for record in self.tokens.values():
                if _matches(record.team_id, record.enterprise_id, team_id, enterprise_id):
                    record.revoked = True
            for install in self.installs:
                if _matches(install.team_id, install.enterprise_id, team_id, enterprise_id):
                    install.uninstalled = True
                    latest = install
        return latest


def _matches(
    team_id: str | None, enterprise_id: str | None, want_team: str | None, want_org: str | None
) -> bool:
    if team_id != want_team:
        return False
    return want_org is None or enterprise_id == want_org
