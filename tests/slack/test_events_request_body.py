"""installations/slack/request_body.py: a signed body read once, for our endpoint and Bolt's alike.

Properties over any bytes and any Content-Type: ``read_body`` returns an object or refuses with
UnusableBody, never anything else; whatever it accepts, Bolt's own request (``BoltRequest``, which
parses the body and builds the listeners' context from it) is built without an error and holds
the same object. Examples pin each refusal Bolt would have turned into a 500.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from slack_bolt.request import BoltRequest

from installations.slack.request_body import MAX_JSON_DEPTH, UnusableBody, read_body

PROPERTY = hypothesis_settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

# Any JSON value, with the envelope's keys (the ones Bolt reads) likely to appear at any level.
ENVELOPE_KEYS = [
    *("type", "event", "authorizations", "team", "enterprise", "user", "channel", "view"),
    *("message", "previous_message", "item", "assistant_thread", "actions", "response_urls"),
    *("response_url", "team_id", "enterprise_id", "user_id", "id", "text", "subtype", "command"),
    *("callback_id", "action_id", "block_id", "is_ext_shared_channel", "function", "container"),
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["event_callback", "block_actions", "view_submission", "T0A"]),
    st.sampled_from(["\x00", "\ud800", "T0A\n", "x" * 300]),  # no Slack id
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(ENVELOPE_KEYS) | st.text(max_size=6), children, max_size=5),
    ),
    max_leaves=20,
)
content_types = st.sampled_from(
    [JSON, FORM, f"{JSON}; charset=utf-8", "", "text/plain", JSON.upper()]
)


def encoded(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8", "surrogatepass")


def as_form(value: Any) -> bytes:
    return urlencode({"payload": json.dumps(value)}).encode()


bodies = st.one_of(
    st.binary(max_size=200),
    values.map(encoded),
    values.map(as_form),
    st.dictionaries(st.sampled_from(ENVELOPE_KEYS), st.text(max_size=8), max_size=4).map(
        lambda fields: urlencode(fields).encode()
    ),
)


def bolt_view(body: bytes, content_type: str) -> BoltRequest:
    """Bolt's request for the body, as its Django adapter builds it."""
    return BoltRequest(body=body.decode("utf-8"), headers={"content-type": content_type})


@PROPERTY
@given(body=bodies, content_type=content_types)
@example(body=b'{"event": "x"}', content_type=JSON)
@example(body=b"payload=%5B1%5D", content_type=FORM)
@example(body=b"authorizations=x", content_type=FORM)
def test_what_is_accepted_is_what_bolt_reads_without_an_error(
    body: bytes, content_type: str
) -> None:
    try:
        payload = read_body(body, content_type)
    except UnusableBody as exc:
        assert exc.reason  # one of a few fixed words, never quoting the body
        return
    assert bolt_view(body, content_type).body == payload


UNUSABLE = {
    "not-utf8": (b"\xff\xfe{}", JSON),
    "empty": (b"", JSON),
    "malformed-json": (b'{"type": ', JSON),
    "json-list": (b"[1, 2]", JSON),
    "nan": (b'{"event_time": NaN}', JSON),
    "deep-100k": (b"[" * 100_000 + b"]" * 100_000, JSON),
    "deep-object": (b'{"a":' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1), JSON),
    "event-a-string": (b'{"type": "event_callback", "event": "app_uninstalled"}', JSON),
    "event-null": (b'{"type": "event_callback", "event": null}', JSON),
    "event-type-a-number": (b'{"type": "event_callback", "event": {"type": 5}}', JSON),
    "event-text-a-list": (b'{"event": {"type": "message", "text": []}}', JSON),
    "team-a-number": (b'{"team": 5}', JSON),
    "team-id-a-list": (b'{"team": {"id": ["T0A"]}}', JSON),
    "team-id-nul": (b'{"team_id": "T0A\\u0000"}', JSON),
    "team-id-surrogate": (b'{"team_id": "\\ud800"}', JSON),
    "authorizations-an-object": (b'{"authorizations": {"team_id": "T0A"}}', JSON),
    "authorizations-of-strings": (b'{"authorizations": ["T0A"]}', JSON),
    "actions-empty": (b'{"type": "block_actions", "actions": []}', JSON),
    "view-a-string": (b'{"type": "view_submission", "view": "v"}', JSON),
    "response-urls-of-numbers": (b'{"response_urls": [1]}', JSON),
    "url-verification-no-challenge": (b'{"type": "url_verification", "challenge": 5}', JSON),
    "form-payload-not-json": (b"payload=%7Bnot", FORM),
    "form-payload-a-list": (b"payload=%5B%5D", FORM),
    "form-authorizations-text": (b"authorizations=x&command=%2Fhello", FORM),
}


@pytest.mark.parametrize("body,content_type", UNUSABLE.values(), ids=UNUSABLE.keys())
def test_bodies_nothing_can_use_are_refused_with_a_reason(body: bytes, content_type: str) -> None:
    with pytest.raises(UnusableBody) as refused:
        read_body(body, content_type)
    assert refused.value.reason


INTERACTION = {"type": "block_actions", "actions": [{"action_id": "a"}], "team": {"id": "T0A"}}
USABLE = {
    "event": (json.dumps({"type": "event_callback", "event": {"type": "app_mention"}}), JSON),
    "json-without-content-type": ('{"type": "event_callback"}', ""),
    "slash-command": ("command=%2Fhello&text=hi&team_id=T0A&user_id=U0A", FORM),
    "text-mentioning-payload": ("command=%2Fhello&text=my+payload", FORM),  # Bolt reads {}
    "interactivity": (urlencode({"payload": json.dumps(INTERACTION)}), FORM),
    "org-wide": ('{"enterprise": {"id": "E0A"}, "team": null, "user": "U0A"}', JSON),
    "depth-limit": ('{"a":' * (MAX_JSON_DEPTH - 1) + "1" + "}" * (MAX_JSON_DEPTH - 1), JSON),
}


@pytest.mark.parametrize("text,content_type", USABLE.values(), ids=USABLE.keys())
def test_what_slack_sends_is_read_as_bolt_reads_it(text: str, content_type: str) -> None:
    body = text.encode()
    assert read_body(body, content_type) == bolt_view(body, content_type).body
