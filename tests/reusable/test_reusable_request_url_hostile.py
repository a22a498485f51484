"""The one Request URL with a developer's Bolt app behind it, against unsigned input of any shape.

Issue 11's rule for /slack/events holds on every Bolt-served URL too: without a valid signature,
any header and any body is a 401 and nothing is logged at ERROR. Bolt parses a body (UTF-8
decoding, JSON, form payloads) before it checks the signature, so a body that is not UTF-8 or
nests 10,000 deep reached it unauthenticated and became a 500; our bounded check over bytes
(installations/slack/signature.py) now runs first, sync and async alike.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from installations.bolt import request_url
from tests.slack.test_events_fuzz import _Records, bodies, fresh_timestamp, header_values, logs

pytestmark = pytest.mark.django_db

__all__ = ["logs"]  # the fixture, imported for its use below

EXAMPLE = "example_app.slack_app.build_app"
BOLT_URLS = ["/slack/events", "/slack/commands", "/slack/interactions"]
HOSTILE_BODIES = [
    b"\xff\xfe not utf-8",
    b"[" * 10_000 + b"]" * 10_000,
    b"payload=" + b"%5B" * 10_000,
    b'{"type": "url_verification", "challenge": "x"}',
]


@pytest.fixture(params=["sync", "async"])
def bolt_app(request: pytest.FixtureRequest, settings: Any) -> str:
    settings.SLACK_BOLT_APP = (
        EXAMPLE if request.param == "sync" else "tests.reusable.async_app.build_async_app"
    )
    assert request_url.is_async() == (request.param == "async")
    return str(request.param)


@pytest.mark.parametrize("url", BOLT_URLS)
@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=["not-utf8", "deep-json", "deep-form", "ok"])
@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_hostile_unsigned_bodies_are_a_401_before_bolt_parses_them(
    bolt_app: str, logs: _Records, url: str, body: bytes, content_type: str
) -> None:
    client = Client(raise_request_exception=False)
    response = client.generic(
        "POST",
        url,
        data=body,
        content_type=content_type,
        headers={"X-Slack-Request-Timestamp": fresh_timestamp(), "X-Slack-Signature": "v0=00"},
    )
    assert response.status_code == 401, response.content[:200]


@hypothesis_settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    url=st.sampled_from(BOLT_URLS),
    timestamp=st.none() | header_values,
    signature=st.none() | header_values,
    body=bodies,
)
@example(url="/slack/events", timestamp="9" * 400, signature="v0=" + "0" * 64, body=b"{}")
def test_any_unsigned_request_to_a_bolt_url_is_a_401(
    bolt_app: str,
    logs: _Records,
    url: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
) -> None:
    headers = {}
    if timestamp is not None:
        headers["X-Slack-Request-Timestamp"] = timestamp
    if signature is not None:
        headers["X-Slack-Signature"] = signature
    client = Client(raise_request_exception=False)
    response = client.generic(
        "POST", url, data=body, content_type="application/json", headers=headers
    )
    assert response.status_code == 401, response.content[:200]
