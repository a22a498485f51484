"""POST /slack/events against inputs nobody listed: any header, any body, any JSON, any field type.

Issue 11, class 2. The rules, proven as properties through the real URL, middleware and view:
- without a valid signature, every header value of any length or form, and every body, is a 401;
- a signed body is a 200 or a 400, never a 500, whatever JSON (or not JSON) it holds, however
  deep it nests and whatever type each event field has;
- none of it produces an ERROR record or a logged traceback.
Seeded (derandomize=True) and bounded so each property runs in a few seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import BadRequest
from django.db import transaction
from django.test import Client
from django.utils import http as django_http
from hypothesis import HealthCheck, assume, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from slack_sdk.signature import Clock, SignatureVerifier

from installations import views as event_views
from installations.conf import slack_config
from installations.models import Installation, LifecycleEvent, OrgTeamAccess, ProcessedSlackEvent
from installations.slack import events as slack_payloads
from installations.slack import request_body
from installations.slack import signature as slack_signature
from tests.support.factories import saved_workspace
from tests.support.lifecycle import envelope

pytestmark = pytest.mark.django_db

PROPERTY = hypothesis_settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Django 6.1 and later refuse a Content-Type longer than this before any of our code runs.
CONTENT_TYPE_LIMIT: int = getattr(django_http, "MAX_HEADER_LENGTH", None) or 10**9
HANDLED = ["app_uninstalled", "tokens_revoked", "team_access_granted", "team_access_revoked"]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def alarming(self) -> list[str]:
        """Records an operator would be paged for: ERROR and above, or any traceback."""
        return [
            f"{r.levelname} {r.name}: {r.getMessage()}"
            for r in self.records
            if r.levelno >= logging.ERROR or r.exc_info
        ]


@pytest.fixture
def logs() -> Iterator[_Records]:
    """Every record of every logger; the test fails if one is at ERROR or carries a traceback."""
    handler = _Records()
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.setLevel(old_level)
        root.removeHandler(handler)
    assert handler.alarming() == []


@pytest.fixture
def client() -> Client:
    """A client that gets the 500 page instead of the exception, as a real sender would."""
    return Client(raise_request_exception=False)


def post(
    client: Client, body: bytes, headers: dict[str, str], *, signed: bool = False, **extra: Any
) -> Any:
    environ = {**(signed_environ(body) if signed else {}), **extra}
    return client.generic(
        "POST",
        "/slack/events",
        data=body,
        content_type=headers.pop("Content-Type", "application/json"),
        headers=headers,
        **environ,
    )


def fresh_timestamp(offset: int = 0) -> str:
    return str(int(time.time()) + offset)


def reference_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's recipe written out over bytes, apart from both implementations under test
    (slack_sdk's cannot sign a body that is not UTF-8)."""
    message = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_environ(body: bytes) -> dict[str, Any]:
    timestamp = fresh_timestamp()
    return {
        "HTTP_X_SLACK_REQUEST_TIMESTAMP": timestamp,
        "HTTP_X_SLACK_SIGNATURE": reference_signature(
            slack_config().signing_secret, timestamp, body
        ),
    }


# --- Strategies ----------------------------------------------------------------------------------
ODD_HEADER_VALUES = [
    "",
    " ",
    "\x00",
    "\u0661\u0667" + "\u0660" * 8,  # Arabic-Indic digits: int() accepts them
    "\uff11\uff17" + "\uff10" * 8,  # fullwidth digits
    " 1700000000",
    "1700000000\n",
    "1_700_000_000",
    "+1700000000",
    "-0",
    "1e9",
    "1e400",
    "inf",
    "nan",
    "9" * 400,  # int() fine, float(now) - int(...) overflows
    "9" * 5000,  # over int()'s digit limit
    "v0=",
    "v0=" + "0" * 64,
    "v0=" + "é" * 64,  # compare_digest on non-ASCII str raises TypeError
    "v0=" + "A" * 64,
    "v1=" + "0" * 64,
    "v0=" + "0" * 64 + "\n",
    "v0=" + "0" * 64 + ",v0=" + "0" * 64,
]
header_values = st.one_of(
    st.sampled_from(ODD_HEADER_VALUES),
    st.text(max_size=80),  # any code point but surrogates: control characters included
    st.text(st.characters(codec="latin-1"), max_size=80),  # what a WSGI server can hand over
    st.from_regex(r"[0-9]{1,40}", fullmatch=True),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.integers(-400, 400).map(fresh_timestamp),
    st.from_regex(r"v0=[0-9a-fA-F]{0,70}", fullmatch=True),
    st.tuples(st.text(max_size=8), st.integers(500, 5000)).map(lambda t: t[0] * t[1]),  # long
)
bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    st.just(json.dumps(envelope({"type": "app_uninstalled"})).encode()),
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**18, max_value=10**1000),  # past float's range
    st.floats(allow_nan=True, allow_infinity=True),  # json.dumps writes NaN / Infinity
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=10), children, max_size=4),
    ),
    max_leaves=16,
)


def not_finite(value: Any) -> bool:
    """Whether json.dumps writes a NaN or Infinity somewhere in ``value`` (not JSON: a 400)."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(not_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(not_finite(v) for v in value)
    return False


def plausibly(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly (7 in 8) a value of the documented type, else any JSON value at all."""
    return st.integers(0, 7).flatmap(lambda n: json_values if n == 0 else strategy)


good_ids = st.sampled_from(["T0STANDIN1", "T0STANDIN1", "E0ORG1", "T0A", "U0STANDINUSR", ""])
odd_ids = st.sampled_from(["T0\x00", "T0STANDIN1\n", "T" * 40, "t0\u00e9", "T0 A", None])
ids = st.integers(0, 5).flatmap(lambda n: odd_ids if n == 0 else good_ids)
id_lists = st.lists(ids, max_size=4)
events = st.fixed_dictionaries(
    {"type": plausibly(st.sampled_from(HANDLED))},
    optional={
        "tokens": plausibly(
            st.fixed_dictionaries({}, optional={"oauth": plausibly(id_lists), "bot": id_lists})
        ),
        "team_ids": plausibly(id_lists),
        "team_id": plausibly(ids),
    },
)
nested_events = st.fixed_dictionaries(
    {"event": events}, optional={"team_id": ids, "enterprise_id": ids, "api_app_id": ids}
)
authorizations = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "team_id": plausibly(ids),
            "enterprise_id": plausibly(ids),
            "is_enterprise_install": plausibly(st.booleans()),
        },
    ),
    max_size=2,
)
any_envelope = st.fixed_dictionaries(
    {
        "type": plausibly(st.just("event_callback")),
        "event": plausibly(st.one_of(events, nested_events)),
    },
    optional={
        "team_id": plausibly(ids),
        "enterprise_id": plausibly(ids),
        "api_app_id": plausibly(st.sampled_from(["A0STANDIN", "A0OTHER"])),
        "event_id": plausibly(st.from_regex(r"Ev[A-Z0-9]{0,70}", fullmatch=True)),
        "event_time": plausibly(
            st.one_of(
                st.integers(0, 2**40),
                st.just(int(time.time())),
                st.floats(allow_nan=True, allow_infinity=True),
            )
        ),
        "authorizations": plausibly(authorizations),
        "is_enterprise_install": plausibly(st.booleans()),
    },
)
ORG_WIDE = [{"enterprise_id": "E0ORG1", "team_id": None, "is_enterprise_install": True}]
# Half the envelopes name an installed target, so that the handlers run and write.
targets = st.sampled_from(
    [
        {},
        {},
        {"team_id": "T0STANDIN1", "enterprise_id": None},
        {"team_id": None, "enterprise_id": "E0ORG1", "authorizations": ORG_WIDE},
    ]
)
envelopes = st.builds(lambda envelope, target: {**envelope, **target}, any_envelope, targets)


@pytest.fixture
def installed() -> None:
    """A workspace and an org-wide install, so that events find a target and handlers run."""
    saved_workspace()
    saved_workspace(enterprise_id="E0ORG1", team_id=None, is_enterprise_install=True)


def rolled_back(fn: Any) -> Any:
    """Run one example in a savepoint that is rolled back: every example sees the same rows."""
    with transaction.atomic():
        result = fn()
        transaction.set_rollback(True)
    return result


# --- Unsigned: always 401 ------------------------------------------------------------------------
@PROPERTY
@given(
    timestamp=st.none() | header_values,
    signature=st.none() | header_values,
    others=st.dictionaries(
        st.sampled_from(
            ["X-Slack-Retry-Num", "X-Slack-Retry-Reason", "Content-Type", "User-Agent"]
        ),
        header_values,
    ),
    body=bodies,
)
@example(timestamp="9" * 400, signature="v0=" + "0" * 64, others={}, body=b"{}")
@example(timestamp="\u0661\u0662\u0663", signature="v0=00", others={}, body=b"{}")
@example(timestamp=fresh_timestamp(), signature="v0=" + "é" * 64, others={}, body=b"{}")
def test_any_header_values_and_body_without_a_valid_signature_are_a_401(
    client: Client,
    logs: _Records,
    timestamp: str | None,
    signature: str | None,
    others: dict[str, str],
    body: bytes,
) -> None:
    headers = dict(others)
    if timestamp is not None:
        headers["X-Slack-Request-Timestamp"] = timestamp
    if signature is not None:
        headers["X-Slack-Signature"] = signature
    if len(headers.get("Content-Type", "")) > CONTENT_TYPE_LIMIT:
        # Django 6.1+ refuses such a request while building it, before any middleware or view.
        with pytest.raises(BadRequest):
            post(client, body, headers)
        return
    response = post(client, body, headers)
    assert response.status_code == 401, response.content[:200]


@PROPERTY
@given(body=bodies, signature=header_values)
def test_a_fresh_timestamp_with_any_other_signature_is_a_401(
    client: Client, logs: _Records, body: bytes, signature: str
) -> None:
    timestamp = fresh_timestamp()
    assume(signature != reference_signature(slack_config().signing_secret, timestamp, body))
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}
    assert post(client, body, headers).status_code == 401


@hypothesis_settings(max_examples=300, deadline=None, derandomize=True)
@given(
    body=st.one_of(st.binary(max_size=200), st.text(max_size=100).map(str.encode)),
    offset=st.integers(-400, 400),
    tamper=st.sampled_from(["none", "body", "timestamp", "digit"]),
)
def test_our_verifier_agrees_with_slack_sdk_wherever_slack_sdk_can_answer(
    body: bytes, offset: int, tamper: str
) -> None:
    secret = "fake-secret-for-the-property"
    now = time.time()
    timestamp = str(int(now) + offset)
    signature = reference_signature(secret, timestamp, body)
    readable = is_utf8(body)  # slack_sdk decodes the body: it can only answer for UTF-8
    if readable:
        assert SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body) == (
            signature
        )
    if tamper == "body":
        body += b"x"
    elif tamper == "timestamp":
        timestamp = str(int(timestamp) + 1)
    elif tamper == "digit":
        signature = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    problem = slack_signature.signature_problem(secret, body, timestamp, signature, now=now)
    assert (problem is None) == (tamper == "none" and abs(offset) <= 300)
    if readable:
        verifier = SignatureVerifier(secret, clock=FixedClock(now))
        assert verifier.is_valid(body, timestamp, signature) == (problem is None)


def is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


# --- Signed: 200 or 400, never 500 ---------------------------------------------------------------
@PROPERTY
@given(value=json_values)
def test_signed_arbitrary_json_is_a_200_or_a_400(
    client: Client, logs: _Records, installed: None, value: Any
) -> None:
    body = json.dumps(value).encode()
    response = rolled_back(lambda: post(client, body, {}, signed=True))
    if not isinstance(value, dict) or not_finite(value):
        assert response.status_code == 400
    else:
        assert response.status_code in (200, 400)


@PROPERTY
@given(payload=envelopes, retry=st.none() | header_values)
def test_signed_event_callbacks_with_fields_of_any_type_are_acknowledged(
    client: Client, logs: _Records, installed: None, payload: dict[str, Any], retry: str | None
) -> None:
    body = json.dumps(payload).encode()
    headers = {} if retry is None else {"X-Slack-Retry-Num": retry}
    response = rolled_back(lambda: post(client, body, headers, signed=True))
    if not_finite(payload):
        assert response.status_code == 400  # not JSON (RFC 8259), refused before any field is read
    elif not documented_envelope(payload):
        # an envelope field Bolt reads is of a type Slack never sends: nothing can use it
        assert response.status_code == 400, response.content[:200]
        assert response.content.startswith(b"unusable request: ")
    else:
        assert response.status_code == 200, response.content[:200]


def documented_envelope(payload: dict[str, Any]) -> bool:
    """Whether the envelope fields this strategy varies have the types Slack documents: ``type``
    text, ``event`` an object with a text ``type`` (or a nested ``event`` object, as
    team_access_* may come), ``authorizations`` a list of objects, ids printable ASCII."""
    event = payload["event"]
    auths = payload.get("authorizations")
    return (
        isinstance(payload["type"], str)
        and all(is_id(payload.get(key)) for key in ("team_id", "enterprise_id"))
        and isinstance(event, dict)
        and isinstance(event.get("type"), str | None)
        and is_id(event.get("team_id"))
        and ("event" not in event or documented_envelope({"type": "", **event}))
        and (auths is None or (isinstance(auths, list) and all(map(documented_auth, auths))))
    )


def documented_auth(auth: Any) -> bool:
    return isinstance(auth, dict) and all(is_id(auth.get(k)) for k in ("team_id", "enterprise_id"))


def is_id(value: Any) -> bool:
    """None, or text of printable ASCII (Slack's ids are; a NUL or a lone surrogate is not)."""
    return value is None or (
        isinstance(value, str) and len(value) <= 255 and all(" " <= c <= "~" for c in value)
    )


def nested(depth: int, *, inner: str = "[]", opener: str = "[") -> bytes:
    closer = {"[": "]", '{"a":': "}"}[opener]
    return (opener * depth + inner + closer * depth).encode()


@pytest.mark.parametrize(
    "body",
    [
        nested(10_000),  # json.loads raises RecursionError
        nested(10_000, opener='{"a":', inner="1"),
        nested(200),  # parses, but deeper than MAX_JSON_DEPTH
        b'{"a": ' + nested(request_body.MAX_JSON_DEPTH) + b"}",
        b'{"type": "event_callback", "event_time": ' + b"1" * 5000 + b"}",  # int() digit limit
        b'{"type": "event_callback", "event_time": NaN}',
        b'{"type": "url_verification", "challenge": Infinity}',
        b"\xff\xfe{}",
        b"",
    ],
    ids=[
        "list-10k",
        "dict-10k",
        "list-200",
        "depth-65",
        "5000-digits",
        "nan",
        "inf",
        "utf16",
        "empty",
    ],
)
def test_signed_bodies_that_are_no_usable_json_object_are_a_400(
    client: Client, logs: _Records, body: bytes
) -> None:
    assert post(client, body, {}, signed=True).status_code == 400


def test_json_exactly_at_the_depth_limit_is_read(
    client: Client, logs: _Records, installed: None
) -> None:
    payload = envelope({"type": "message", "blocks": json.loads(nested(60))})
    assert post(client, json.dumps(payload).encode(), {}, signed=True).status_code == 200


# Envelope fields Bolt reads, of a type Slack never sends: refused (400) on every path
# (installations/slack/request_body.py), the developer's Bolt app's too.
ENVELOPE_REFUSALS: list[dict[str, Any]] = [
    {"team_id": "T0STANDIN1\x00"},  # PostgreSQL cannot compare text holding NUL
    {"event": {"type": "app_uninstalled", "team_id": {"id": "T0STANDIN1"}}, "team_id": None},
    {"authorizations": {"team_id": "T0STANDIN1"}},
    {"event": "app_uninstalled"},
    {"event": None},
    {"team": 7},
    {"type": ["event_callback"]},
]


@pytest.mark.parametrize(
    "overrides",
    [
        {"event_id": "Ev\x00"},
        {"event_id": "Ev" + "A" * 80},  # longer than the column
        {"team_id": "T" * 40},
        {"event_time": 1e300},
        {"event_time": 10**400},  # math.isfinite() of it raises OverflowError
        {"event_time": [1]},
        {"event_time": True},
        {"is_enterprise_install": "yes"},
        *ENVELOPE_REFUSALS,
    ],
)
def test_a_signed_uninstall_with_a_malformed_field_changes_nothing(
    post_event: Any, saved_workspace: Any, logs: _Records, overrides: dict[str, Any]
) -> None:
    workspace = saved_workspace()
    response = post_event({**envelope({"type": "app_uninstalled"}), **overrides})
    # the lifecycle event's own fields: acknowledged and ignored; the envelope's: refused
    assert response.status_code == (400 if overrides in ENVELOPE_REFUSALS else 200)
    workspace.refresh_from_db()
    assert workspace.uninstalled_at is None and workspace.bot_token is not None
    assert not ProcessedSlackEvent.objects.exists()


@pytest.mark.parametrize(
    "tokens",
    [
        {"oauth": "U0STANDINUSR"},  # a string is not a list of one: "U", "0", ... are not users
        {"oauth": {"U0STANDINUSR": True}},
        {"oauth": ["U0STANDINUSR\x00"]},
        {"oauth": [["U0STANDINUSR"]]},
        {"bot": "U0STANDINBOT"},
        "U0STANDINUSR",
    ],
)
def test_tokens_revoked_with_wrongly_typed_tokens_revokes_nothing(
    post_event: Any, saved_workspace: Any, logs: _Records, tokens: Any
) -> None:
    workspace = saved_workspace()
    response = post_event(envelope({"type": "tokens_revoked", "tokens": tokens}))
    assert response.status_code == 200
    workspace.refresh_from_db()
    assert workspace.bot_token is not None
    assert Installation.objects.get(workspace=workspace).user_token is not None
    assert not LifecycleEvent.objects.exclude(kind=LifecycleEvent.Kind.INSTALLED).exists()


def test_team_access_with_team_ids_as_a_string_grants_nothing(
    post_event: Any, saved_workspace: Any, logs: _Records
) -> None:
    saved_workspace(enterprise_id="E0ORG1", team_id=None, is_enterprise_install=True)
    event = {"type": "team_access_granted", "team_ids": "T0A"}
    auth = [{"enterprise_id": "E0ORG1", "team_id": None, "is_enterprise_install": True}]
    assert post_event(envelope(event, team_id=None, authorizations=auth)).status_code == 200
    assert not OrgTeamAccess.objects.exists()


def test_tokens_revoked_listing_more_users_than_a_query_may_bind_is_applied(
    post_event: Any, saved_workspace: Any, logs: _Records
) -> None:
    workspace = saved_workspace(user_id="U0LAST")
    users = [f"U{n:08d}" for n in range(40_000)] + ["U0LAST"]  # over SQLite's 32766 variables
    response = post_event(envelope({"type": "tokens_revoked", "tokens": {"oauth": users}}))
    assert response.status_code == 200
    assert Installation.objects.get(workspace=workspace, user_id="U0LAST").user_token is None


@pytest.mark.parametrize(
    "challenge", [None, 42, {"a": 1}, ["x"], "", "x" * (slack_payloads.MAX_CHALLENGE_LENGTH + 1)]
)
def test_url_verification_without_a_text_challenge_is_a_400(
    post_event: Any, logs: _Records, challenge: Any
) -> None:
    response = post_event({"type": "url_verification", "challenge": challenge})
    assert response.status_code == 400


@PROPERTY
@given(retry=header_values)
def test_odd_retry_numbers_are_acknowledged_and_never_logged_verbatim(
    post_event: Any, logs: _Records, retry: str
) -> None:
    payload = envelope({"type": "app_uninstalled"}, team_id="T0NOBODY")  # read, logged, no write
    response = post_event(payload, headers={"HTTP_X_SLACK_RETRY_NUM": retry})
    assert response.status_code == 200
    line = next(r.getMessage() for r in reversed(logs.records) if "; retry " in r.getMessage())
    logged = line.rsplit("; retry ", 1)[1]
    assert logged == "?" or (logged.isascii() and logged.isdigit() and len(logged) <= 3)


# --- Body size -----------------------------------------------------------------------------------
def test_a_body_over_the_cap_is_a_413_before_it_is_read(client: Client, logs: _Records) -> None:
    body = b" " * (event_views.MAX_BODY_BYTES + 1)
    assert post(client, body, {}, signed=True).status_code == 413


def test_a_body_over_djangos_own_cap_is_a_413_not_a_logged_traceback(
    client: Client, logs: _Records, settings: Any
) -> None:
    """Unguarded, request.body raises RequestDataTooBig: Django answers 400 but logs it at ERROR
    with a traceback (django.security.RequestDataTooBig), and in debug shows a technical page."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    body = json.dumps(envelope({"type": "app_uninstalled", "pad": "x" * 200})).encode()
    assert post(client, body, {}, signed=True).status_code == 413


@pytest.mark.parametrize("length", ["abc", "-1", "\u0661\u0662", " 12", "1e3", "9" * 40])
def test_a_malformed_or_absurd_content_length_is_refused_not_a_crash(
    client: Client, logs: _Records, length: str
) -> None:
    response = post(client, b"{}", {}, signed=True, CONTENT_LENGTH=length)
    assert response.status_code in (400, 413)
