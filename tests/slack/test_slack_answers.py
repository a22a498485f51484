"""slack_answers: every answer's shape, over arbitrary JSON values and bytes, and by example.

The property tests state the contract the rest of the product relies on: whatever Slack (or
something in between) sends, the validator returns a typed answer whose every field has its
declared type, or raises UnexpectedAnswer; it never raises anything else.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import fields, is_dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from installations.exceptions import UnexpectedAnswer
from installations.slack.answers import (
    MAX_EXPIRES_IN,
    TOKEN,
    AuthTestAnswer,
    InstallAnswer,
    IssuedCredentials,
    RefreshAnswer,
    RevokeAnswer,
    issued_credentials,
    parse_json_object,
    refusal_code,
    salvage_credentials,
    validate_answer,
)

FAST = settings(max_examples=200, deadline=None, derandomize=True)
BOT = "xoxe.xoxb-1-fake-bot-for-tests"
BOT_REFRESH = "xoxe-1-fake-bot-refresh-for-tests"
USER = "xoxe.xoxp-1-fake-user-for-tests"
USER_REFRESH = "xoxe-1-fake-user-refresh-for-tests"
HOOK = "https://hooks.slack.com/services/T0FAKE/B0FAKE/fake-webhook-for-tests"

INSTALL = {
    "ok": True,
    "app_id": "A0FAKEAPP",
    "access_token": BOT,
    "token_type": "bot",
    "scope": "commands,chat:write",
    "bot_user_id": "U0FAKEBOT",
    "expires_in": 43200,
    "refresh_token": BOT_REFRESH,
    "team": {"id": "T0FAKE", "name": "Fake Workspace"},
    "enterprise": None,
    "is_enterprise_install": False,
    "authed_user": {
        "id": "U0FAKEUSER",
        "scope": "search:read",
        "access_token": USER,
        "token_type": "user",
        "expires_in": 43200,
        "refresh_token": USER_REFRESH,
    },
    "incoming_webhook": {
        "channel": "#general",
        "channel_id": "C0FAKE",
        "configuration_url": "https://fake.slack.com/services/B0FAKE",
        "url": HOOK,
    },
}
REFRESH = {
    "ok": True,
    "access_token": BOT,
    "refresh_token": BOT_REFRESH,
    "expires_in": 43200,
    "token_type": "bot",
}
AUTH_TEST = {
    "ok": True,
    "url": "https://fake.slack.com/",
    "team": "Fake Workspace",
    "user": "fake-bot",
    "team_id": "T0FAKE",
    "user_id": "U0FAKEBOT",
    "bot_id": "B0FAKE",
    "is_enterprise_install": False,
}
REVOKE = {"ok": True, "revoked": True}
VALID = [
    ("oauth.v2.access", None, INSTALL),
    ("oauth.v2.access", "refresh_token", REFRESH),
    ("auth.test", None, AUTH_TEST),
    ("auth.revoke", None, REVOKE),
]

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["", "bot", "user", BOT, "T0FAKE", "https://x.slack.com/", "a\x00b"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)
PATHS = [
    "ok", "app_id", "access_token", "token_type", "scope", "bot_user_id", "refresh_token",
    "expires_in", "team", "team.id", "team.name", "enterprise", "enterprise.id",
    "is_enterprise_install", "authed_user", "authed_user.id", "authed_user.access_token",
    "authed_user.refresh_token", "authed_user.expires_in", "authed_user.scope",
    "incoming_webhook", "incoming_webhook.url", "incoming_webhook.channel_id", "url", "bot_id",
    "user_id", "team_id", "revoked", "error",
]  # fmt: skip


def assert_well_typed(value: Any) -> None:
    """Every field of a typed answer is None, a bool, a bounded int, a clean str, or another
    typed answer; tokens look like tokens."""
    if value is None or isinstance(value, bool):
        return
    if is_dataclass(value):
        for item in fields(value):
            inner = getattr(value, item.name)
            assert_well_typed(inner)
            if "token" in item.name and item.name != "token_type" and inner is not None:
                assert TOKEN.fullmatch(inner)
        return
    if isinstance(value, int):
        assert 0 <= value <= MAX_EXPIRES_IN
        return
    if isinstance(value, tuple):
        for inner in value:
            assert_well_typed(inner)
        return
    assert isinstance(value, str), type(value)
    assert "\x00" not in value and len(value) <= 4096


def check(method: str, grant: str | None, data: object) -> Any:
    """The validator's result, which must be typed, or None when it raised UnexpectedAnswer."""
    try:
        result = validate_answer(method, data, grant_type=grant)
    except UnexpectedAnswer:
        return None
    if method in ("oauth.v2.access", "auth.test", "auth.revoke"):
        assert_well_typed(result)
    else:
        assert isinstance(result, dict) and result["ok"] is True
    return result


def assert_credentials_typed(issued: IssuedCredentials) -> None:
    assert isinstance(issued, IssuedCredentials)
    assert all(isinstance(t, str) and TOKEN.fullmatch(t) for t in issued.tokens)
    for value in (issued.team_id, issued.enterprise_id, issued.user_id):
        assert value == "" or re.fullmatch(r"[A-Z0-9]{1,32}", value)
    for token in issued.tokens:
        assert token not in repr(issued)


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node: Any = data
    for key in parents:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[last] = value


# --- properties -------------------------------------------------------------------------------


@FAST
@given(
    method=st.sampled_from(["oauth.v2.access", "auth.test", "auth.revoke", "chat.postMessage"]),
    grant=st.sampled_from([None, "refresh_token", "authorization_code"]),
    data=JSON_VALUES,
)
def test_any_json_value_is_a_typed_answer_or_unexpected_answer(
    method: str, grant: str | None, data: Any
) -> None:
    check(method, grant, data)
    assert_credentials_typed(issued_credentials(data))
    code = refusal_code(data)
    assert code is None or re.fullmatch(r"[a-z0-9_.-]{1,64}", code)


@FAST
@given(base=st.sampled_from(VALID), path=st.sampled_from(PATHS), value=JSON_VALUES)
def test_a_valid_answer_with_one_field_changed_is_typed_or_refused(
    base: tuple[str, str | None, dict[str, Any]], path: str, value: Any
) -> None:
    method, grant, valid = base
    data = copy.deepcopy(valid)
    set_path(data, path, value)
    check(method, grant, data)
    issued = issued_credentials(data)
    assert_credentials_typed(issued)
    if method == "oauth.v2.access" and not path.endswith(("access_token", "refresh_token")):
        assert BOT in issued.tokens  # an untouched token is always found, to be revoked


CONTENT_TYPES = [
    None, "", "application/json", "application/json; charset=utf-8", "text/html",
    "application/json; charset=utf-16", "application/json; charset=x-unknown",
    "application/vnd.slack+json", "text/plain; charset=utf-8", 'application/json; charset="UTF-8"',
]  # fmt: skip
BODIES = st.one_of(
    st.binary(max_size=300),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.sampled_from([json.dumps(a[2]).encode() for a in VALID]).flatmap(
        lambda whole: st.integers(0, len(whole)).map(lambda n: whole[:n])  # truncated answers
    ),
    JSON_VALUES.map(lambda v: json.dumps(v).encode("utf-16")),
    st.just(b"[" * 100_000 + b"]" * 100_000),
    st.just(b"1" * 5000),
)


@FAST
@given(body=BODIES, content_type=st.sampled_from(CONTENT_TYPES) | st.text(max_size=40))
def test_any_bytes_are_a_json_object_or_unexpected_answer(
    body: bytes, content_type: str | None
) -> None:
    try:
        value = parse_json_object(body, content_type)
    except UnexpectedAnswer:
        pass
    else:
        assert isinstance(value, dict)
        for method, grant, _ in VALID:
            check(method, grant, value)
    assert_credentials_typed(salvage_credentials(body, content_type))


# --- examples ---------------------------------------------------------------------------------


def test_a_full_install_answer_reads_as_typed_values() -> None:
    answer = validate_answer("oauth.v2.access", INSTALL)
    assert isinstance(answer, InstallAnswer)
    assert (answer.access_token, answer.refresh_token, answer.expires_in) == (
        BOT,
        BOT_REFRESH,
        43200,
    )
    assert (answer.team_id, answer.team_name, answer.enterprise_id) == (
        "T0FAKE",
        "Fake Workspace",
        None,
    )
    assert answer.authed_user is not None and answer.authed_user.access_token == USER
    assert answer.incoming_webhook is not None and answer.incoming_webhook.url == HOOK
    assert answer.issued.tokens == (BOT_REFRESH, USER_REFRESH, BOT, USER)
    for secret in (BOT, BOT_REFRESH, USER, USER_REFRESH, HOOK):
        assert secret not in repr(answer) and secret not in repr(answer.issued)


def test_other_answers_read_as_typed_values() -> None:
    refresh = validate_answer("oauth.v2.access", REFRESH, grant_type="refresh_token")
    assert refresh == RefreshAnswer(BOT, BOT_REFRESH, 43200, "bot")
    test = validate_answer("auth.test", AUTH_TEST)
    assert isinstance(test, AuthTestAnswer) and test.bot_id == "B0FAKE"
    assert validate_answer("auth.revoke", REVOKE) == RevokeAnswer(revoked=True)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("expires_in", "43200"),
        ("expires_in", True),
        ("expires_in", 10**30),
        ("expires_in", -1),
        ("expires_in", 43200.5),
        ("team", "T0FAKE"),
        ("team.id", 42),
        ("team.id", "t0lower"),
        ("team.name", "Fake\x00Workspace"),
        ("authed_user", ["U0FAKEUSER"]),
        ("access_token", "xoxb has spaces"),
        ("access_token", "xoxb-\nline"),
        ("is_enterprise_install", "false"),
        ("incoming_webhook.url", "javascript:alert(1)"),
        ("ok", "true"),
    ],
)
def test_wrong_types_are_refused_and_the_tokens_still_found(path: str, value: Any) -> None:
    data = copy.deepcopy(INSTALL)
    set_path(data, path, value)
    with pytest.raises(UnexpectedAnswer):
        validate_answer("oauth.v2.access", data)
    tokens = issued_credentials(data).tokens
    assert BOT_REFRESH in tokens and (BOT in tokens) is (path != "access_token")
    assert all(TOKEN.fullmatch(token) for token in tokens)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"expires_in": "abc"}, None),
        ({"token_type": "user"}, "bot"),  # a bot refresh answered for a user token
        ({"token_type": "app"}, None),
        ({"refresh_token": None}, None),
        ({"access_token": 5}, None),
    ],
)
def test_refresh_answers_must_be_complete_and_for_the_token_asked(
    change: dict[str, Any], expected: str | None
) -> None:
    with pytest.raises(UnexpectedAnswer):
        validate_answer(
            "oauth.v2.access",
            {**REFRESH, **change},
            grant_type="refresh_token",
            expected_token_type=expected,
        )


def test_bodies_must_be_utf8_json_objects_of_sane_depth() -> None:
    good = json.dumps(REVOKE).encode()
    assert parse_json_object(good, "application/json; charset=utf-8") == REVOKE
    assert parse_json_object(good, "application/json") == REVOKE
    for body, content_type in [
        (good, "text/html"),
        (good, None),
        (json.dumps(REVOKE).encode("utf-16"), "application/json; charset=utf-16"),
        (good[:-3], "application/json"),
        (b"[1, 2]", "application/json"),
        (b"null", "application/json"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "application/json"),
        (b'{"n": ' + b"9" * 5000 + b"}", "application/json"),
        (b"\xef\xbb\xbf" + good, "application/json"),
    ]:
        with pytest.raises(UnexpectedAnswer):
            parse_json_object(body, content_type)


def test_mislabelled_answers_still_yield_their_tokens_for_revoking() -> None:
    text = json.dumps(INSTALL)
    assert BOT in salvage_credentials(text.encode(), "text/html").tokens
    utf16 = salvage_credentials(text.encode("utf-16"), "application/json; charset=utf-16")
    assert utf16.tokens == (BOT_REFRESH, USER_REFRESH, BOT, USER) and utf16.team_id == "T0FAKE"
    assert salvage_credentials(text.encode()[:100], "application/json").tokens == ()
    assert salvage_credentials(b"\xff\xfe", "application/json; charset=rot13").tokens == ()


def test_refusal_codes_are_safe_strings() -> None:
    assert refusal_code({"ok": False, "error": "invalid_code"}) == "invalid_code"
    assert refusal_code({"ok": False, "error": "<b>Bad\nThing</b>"}) == "bbadthingb"
    assert refusal_code({"ok": False, "error": ""}) == "slack_error"
    assert refusal_code({"ok": False, "error": 5}) is None
    assert refusal_code({"ok": 0, "error": "x"}) is None
    assert refusal_code(["ok", False]) is None
