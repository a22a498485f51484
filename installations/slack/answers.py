"""Every answer from Slack's Web API is checked here, types included, before anything reads it.

Whoever reads an answer afterwards, slack_sdk's ``TokenRotator`` included, meets only well-typed
values; anything else is ``UnexpectedAnswer``, and an unusable answer that carried credentials
still yields them for revocation. Shapes: docs/slack-protocol.md. Logs name fields, never values.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from installations.exceptions import UnexpectedAnswer, safe_code

logger = logging.getLogger(__name__)

MAX_DEPTH = 32  # Slack's answers nest three levels; deeper is not an answer of Slack's
MAX_EXPIRES_IN = 366 * 24 * 3600
MAX_NAME = 255  # the model's CharFields
MAX_URL = 500
MAX_SCOPES = 4096
SLACK_ID = re.compile(r"[A-Z0-9]{1,32}")
TOKEN = re.compile(r"[\x21-\x7e]{1,1024}")
HTTPS_URL = re.compile(r"https://[\x21-\x7e]+")
UTF8 = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
# Encodings a mislabelled answer may be read in to find (and revoke) what it carried.
SALVAGE_ENCODINGS = frozenset({"utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1"})


@dataclass(frozen=True)
class IssuedCredentials:
    """Tokens an ``oauth.v2.access`` answer carried (refresh tokens first: auth.revoke on an
    access token withdraws only that token), and whose they are."""

    tokens: tuple[str, ...] = ()
    team_id: str = ""
    enterprise_id: str = ""
    is_enterprise_install: bool = False
    user_id: str = ""

    def __repr__(self) -> str:  # token values stay out of logs, tracebacks and debug pages
        return (
            f"IssuedCredentials({len(self.tokens)} token(s), team={self.team_id or '-'}, "
            f"enterprise={self.enterprise_id or '-'}, user={self.user_id or '-'})"
        )


class UnusableInstallAnswer(UnexpectedAnswer):
    """An ``oauth.v2.access`` answer we cannot use that still carried credentials: ``issued``
    (masked in its repr, never in the message) is what the caller must revoke."""

    def __init__(self, issued: IssuedCredentials) -> None:
        self.issued = issued
        super().__init__()


@dataclass(frozen=True)
class AuthedUser:
    id: str | None
    access_token: str | None = field(default=None, repr=False)
    scope: str = ""
    token_type: str | None = None
    refresh_token: str | None = field(default=None, repr=False)
    expires_in: int | None = None


@dataclass(frozen=True)
class IncomingWebhook:
    url: str | None = field(default=None, repr=False)  # a secret, like a token
    channel: str | None = None
    channel_id: str | None = None
    configuration_url: str | None = None


@dataclass(frozen=True)
class InstallAnswer:
    """A well-typed install answer; whether it is an install of *our* app is checked apart."""

    app_id: str | None
    access_token: str | None = field(repr=False)
    token_type: str | None
    scope: str
    bot_user_id: str | None
    refresh_token: str | None = field(repr=False)
    expires_in: int | None
    team_id: str | None
    team_name: str | None
    enterprise_id: str | None
    enterprise_name: str | None
    is_enterprise_install: bool
    authed_user: AuthedUser | None
    incoming_webhook: IncomingWebhook | None

    @property
    def issued(self) -> IssuedCredentials:
        user = self.authed_user or AuthedUser(id=None)
        values = (self.refresh_token, user.refresh_token, self.access_token, user.access_token)
        return IssuedCredentials(
            tokens=tuple(dict.fromkeys(v for v in values if v)),
            team_id=self.team_id or "",
            enterprise_id=self.enterprise_id or "",
            is_enterprise_install=self.is_enterprise_install,
            user_id=user.id or "",
        )


@dataclass(frozen=True)
class RefreshAnswer:
    """The flat refresh answer slack_sdk's TokenRotator reads: one token, bot or user."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int
    token_type: str


@dataclass(frozen=True)
class AuthTestAnswer:
    url: str | None
    team: str | None
    user: str | None
    team_id: str | None
    user_id: str | None
    bot_id: str | None
    enterprise_id: str | None
    is_enterprise_install: bool
    app_id: str | None
    expires_in: int | None


@dataclass(frozen=True)
class TokenOwner:
    """Whose a token should be: an app, and a workspace or (org-wide) an org; None or "" where
    that is not known."""

    app_id: str | None
    team_id: str | None
    enterprise_id: str | None
    is_enterprise_install: bool

    @classmethod
    def of(cls, source: Any) -> TokenOwner:
        """The owner that an install answer, or a stored row, names: its four fields."""
        return cls(
            app_id=source.app_id,
            team_id=source.team_id,
            enterprise_id=source.enterprise_id,
            is_enterprise_install=bool(source.is_enterprise_install),
        )


@dataclass(frozen=True)
class RevokeAnswer:
    revoked: bool


Answer = InstallAnswer | RefreshAnswer | AuthTestAnswer | RevokeAnswer | Mapping[str, Any]


def storable_text(value: str) -> bool:
    """Whether both databases, the pages and the logs can hold ``value`` as it is: no NUL (which
    PostgreSQL refuses) and no lone surrogate (which JSON can carry and no UTF-8 encoder takes)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Reader:
    """Typed reads from one JSON object; every wrong value is noted by its field path."""

    def __init__(self, data: Mapping[str, Any], problems: list[str], path: str = "") -> None:
        self.data, self.problems, self.path = data, problems, path

    def _bad(self, key: str) -> None:
        self.problems.append(self.path + key)

    def text(
        self,
        key: str,
        *,
        max_length: int = MAX_NAME,
        pattern: re.Pattern[str] | None = None,
        required: bool = False,
    ) -> str | None:
        """A string (None when absent, null or empty)."""
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                self._bad(key)
            return None
        if (
            not isinstance(value, str)
            or len(value) > max_length
            or not storable_text(value)
            or (pattern is not None and not pattern.fullmatch(value))
        ):
            self._bad(key)
            return None
        return value

    def slack_id(self, key: str, *, required: bool = False) -> str | None:
        return self.text(key, max_length=32, pattern=SLACK_ID, required=required)

    def token(self, key: str, *, required: bool = False) -> str | None:
        return self.text(key, max_length=1024, pattern=TOKEN, required=required)

    def url(self, key: str, *, max_length: int = MAX_URL) -> str | None:
        return self.text(key, max_length=max_length, pattern=HTTPS_URL)

    def seconds(self, key: str, *, low: int = 1, required: bool = False) -> int | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self._bad(key)
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not low <= value <= MAX_EXPIRES_IN
        ):
            self._bad(key)
            return None
        return value

    def flag(self, key: str, *, required: bool = False) -> bool | None:
        value = self.data.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, bool):
            self._bad(key)
            return None
        return value

    def child(self, key: str) -> _Reader | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self._bad(key)
            return None
        return _Reader(value, self.problems, f"{self.path}{key}.")


def _unusable(method: str, problems: list[str]) -> UnexpectedAnswer:
    logger.warning("unusable %s answer: fields %s", method, ",".join(sorted(set(problems))))
    return UnexpectedAnswer()


def _ok_object(data: object, method: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise _unusable(method, ["(not an object)"])
    if data.get("ok") is not True:
        raise _unusable(method, ["ok"])
    return data


# --- bodies ---------------------------------------------------------------------------------


def _media_type(content_type: str | None) -> tuple[str, str | None]:
    """(type/subtype in lower case, charset in lower case or None) of a Content-Type value."""
    kind, *params = (content_type or "").split(";")
    charset = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return kind.strip().lower(), charset


def _loads(body: bytes, encoding: str) -> object:
    try:
        return json.loads(body.decode(encoding))
    except (UnicodeError, ValueError, RecursionError, LookupError):
        return None  # ValueError covers JSONDecodeError and 4,300-digit integers


def nests_deeper_than(value: object, limit: int) -> bool:
    """Whether containers nest more than ``limit`` levels (iterative: no recursion to exhaust)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse_json_object(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The body as a JSON object; else UnexpectedAnswer (logged by the caller, who knows the
    HTTP status). JSON only (RFC 8259 §8.1: UTF-8), an object, at most MAX_DEPTH deep."""
    kind, charset = _media_type(content_type)
    if kind != "application/json" and not kind.endswith("+json"):
        raise UnexpectedAnswer()
    if charset is not None and charset not in UTF8:
        raise UnexpectedAnswer()
    value = _loads(body, "utf-8")
    if not isinstance(value, dict) or nests_deeper_than(value, MAX_DEPTH):
        raise UnexpectedAnswer()
    return value


def salvage_credentials(body: bytes, content_type: str | None) -> IssuedCredentials:
    """What an answer refused for its form (media type, charset) carried, to revoke it."""
    _, charset = _media_type(content_type)
    encodings = [e for e in (charset, "utf-8") if e in SALVAGE_ENCODINGS]
    for encoding in dict.fromkeys(encodings):
        value = _loads(body, encoding)
        if isinstance(value, dict) and not nests_deeper_than(value, MAX_DEPTH):
            return issued_credentials(value)
    return IssuedCredentials()


def _matches(pattern: re.Pattern[str], value: object) -> str:
    return value if isinstance(value, str) and pattern.fullmatch(value) else ""


def issued_credentials(data: object) -> IssuedCredentials:
    """Every credential an answer of any shape carries, as well-typed strings (never raises)."""
    if not isinstance(data, Mapping):
        return IssuedCredentials()
    user = data.get("authed_user")
    user = user if isinstance(user, Mapping) else {}
    team = data.get("team")
    enterprise = data.get("enterprise")
    # Refresh tokens first, the app's before the installer's.
    values = [item.get(key) for key in ("refresh_token", "access_token") for item in (data, user)]
    return IssuedCredentials(
        tokens=tuple(dict.fromkeys(t for t in (_matches(TOKEN, v) for v in values) if t)),
        team_id=_matches(SLACK_ID, team.get("id")) if isinstance(team, Mapping) else "",
        enterprise_id=(
            _matches(SLACK_ID, enterprise.get("id")) if isinstance(enterprise, Mapping) else ""
        ),
        is_enterprise_install=data.get("is_enterprise_install") is True,
        user_id=_matches(SLACK_ID, user.get("id")),
    )


def refusal_code(data: object) -> str | None:
    """Slack's error code, made safe to log and show, when ``data`` is a readable refusal
    (``ok`` false and ``error`` a string); None for anything else."""
    if isinstance(data, Mapping) and data.get("ok") is False:
        error = data.get("error")
        if isinstance(error, str):
            return safe_code(error)
    return None


# --- answers, by method -----------------------------------------------------------------------


def install_answer(data: object) -> InstallAnswer:
    """oauth.v2.access with a code: the bot token on top, the installer's under authed_user."""
    body = _ok_object(data, "oauth.v2.access")
    problems: list[str] = []
    read = _Reader(body, problems)
    team, enterprise = read.child("team"), read.child("enterprise")
    user, hook = read.child("authed_user"), read.child("incoming_webhook")
    answer = InstallAnswer(
        app_id=read.slack_id("app_id"),
        access_token=read.token("access_token"),
        token_type=read.text("token_type", max_length=16),
        scope=read.text("scope", max_length=MAX_SCOPES) or "",
        bot_user_id=read.slack_id("bot_user_id"),
        refresh_token=read.token("refresh_token"),
        expires_in=read.seconds("expires_in"),
        team_id=team.slack_id("id") if team else None,
        team_name=team.text("name") if team else None,
        enterprise_id=enterprise.slack_id("id") if enterprise else None,
        enterprise_name=enterprise.text("name") if enterprise else None,
        is_enterprise_install=read.flag("is_enterprise_install") is True,
        authed_user=None
        if user is None
        else AuthedUser(
            id=user.slack_id("id"),
            access_token=user.token("access_token"),
            scope=user.text("scope", max_length=MAX_SCOPES) or "",
            token_type=user.text("token_type", max_length=16),
            refresh_token=user.token("refresh_token"),
            expires_in=user.seconds("expires_in"),
        ),
        incoming_webhook=None
        if hook is None
        else IncomingWebhook(
            url=hook.url("url", max_length=2048),
            channel=hook.text("channel"),
            channel_id=hook.slack_id("channel_id"),
            configuration_url=hook.url("configuration_url"),
        ),
    )
    if problems:
        raise _unusable("oauth.v2.access", problems)
    return answer


def refresh_answer(data: object, *, expected_token_type: str | None = None) -> RefreshAnswer:
    """oauth.v2.access with grant_type=refresh_token: all four fields TokenRotator reads."""
    body = _ok_object(data, "oauth.v2.access refresh")
    problems: list[str] = []
    read = _Reader(body, problems)
    access_token = read.token("access_token", required=True)
    refresh_token = read.token("refresh_token", required=True)
    expires_in = read.seconds("expires_in", required=True)
    token_type = read.text("token_type", max_length=16, required=True)
    # Neither bot nor user, or a bot refresh answered for a user token (or the reverse).
    if token_type not in (None, "bot", "user") or token_type != (expected_token_type or token_type):
        problems.append("token_type")
    if problems or not (access_token and refresh_token and expires_in and token_type):
        raise _unusable("oauth.v2.access refresh", problems)
    return RefreshAnswer(access_token, refresh_token, expires_in, token_type)


def auth_test_answer(data: object) -> AuthTestAnswer:
    body = _ok_object(data, "auth.test")
    problems: list[str] = []
    read = _Reader(body, problems)
    answer = AuthTestAnswer(
        url=read.url("url"),
        team=read.text("team"),
        user=read.text("user"),
        team_id=read.slack_id("team_id"),
        user_id=read.slack_id("user_id"),
        bot_id=read.slack_id("bot_id"),
        enterprise_id=read.slack_id("enterprise_id"),
        is_enterprise_install=read.flag("is_enterprise_install") is True,
        app_id=read.slack_id("app_id"),
        expires_in=read.seconds("expires_in", low=0),
    )
    if problems:
        raise _unusable("auth.test", problems)
    return answer


def owner_unsaid(tested: AuthTestAnswer, *, org_wide: bool) -> list[str]:
    """The field an auth.test answer leaves out that says whose the token is: the org for an
    org-wide token, the workspace for any other (docs/slack-protocol.md §5)."""
    if org_wide:
        return [] if tested.enterprise_id else ["enterprise_id"]
    return [] if tested.team_id else ["team_id"]


def foreign_fields(tested: AuthTestAnswer, owner: TokenOwner) -> list[str]:
    """The fields in which auth.test names another owner than ``owner``: another app, another
    workspace, another org, or a workspace token where an org-wide one belongs (and the
    reverse). A field left out on either side is not compared. An org-wide token answers with
    the org: its ``team_id`` is the org's id when present (docs/slack-protocol.md §5)."""
    different: list[str] = []
    if owner.app_id and tested.app_id and tested.app_id != owner.app_id:
        different.append("app_id")
    if owner.enterprise_id and tested.enterprise_id and tested.enterprise_id != owner.enterprise_id:
        different.append("enterprise_id")
    if owner.is_enterprise_install:
        names_a_workspace = tested.team_id not in (None, owner.enterprise_id, tested.enterprise_id)
        if not tested.is_enterprise_install and names_a_workspace:
            different.append("team_id")
    elif tested.is_enterprise_install:
        different.append("is_enterprise_install")
    elif owner.team_id and tested.team_id and tested.team_id != owner.team_id:
        different.append("team_id")
    return different


def revoke_answer(data: object) -> RevokeAnswer:
    body = _ok_object(data, "auth.revoke")
    problems: list[str] = []
    revoked = _Reader(body, problems).flag("revoked", required=True)
    if problems or revoked is None:
        raise _unusable("auth.revoke", problems)
    return RevokeAnswer(revoked=revoked)


def validate_answer(
    method: str,
    data: object,
    *,
    grant_type: str | None = None,
    expected_token_type: str | None = None,
) -> Answer:
    """The typed answer of a successful call to ``method``, or UnexpectedAnswer."""
    if method == "oauth.v2.access":
        if grant_type == "refresh_token":
            return refresh_answer(data, expected_token_type=expected_token_type)
        return install_answer(data)
    if method == "auth.test":
        return auth_test_answer(data)
    if method == "auth.revoke":
        return revoke_answer(data)
    return _ok_object(data, method)
