"""Signed bodies of any shape, through the one Request URL with and without a Bolt app.

A signed body reaches the developer's Bolt app only once it is readable: Bolt parses the body and
reads its envelope before any listener runs, and raised (a 500) on malformed JSON, bytes that are
not UTF-8, a JSON list, ``event`` as a string, 100k-deep nesting, a form ``payload`` that is not a
JSON object, an id holding a NUL byte. The property: for any signed body and Content-Type, no path
answers 5xx (ours, a sync App, an AsyncApp, each with listeners matching every kind of request
by pattern), and the three refuse (400) exactly the same bodies.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client, override_settings
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings

from installations.bolt import request_url
from tests.slack.test_events_fuzz import signed_environ
from tests.slack.test_events_request_body import FORM, JSON, UNUSABLE, bodies, content_types

# Transactional: the AsyncApp's lookups run on the listener loop's own connection.
pytestmark = pytest.mark.django_db(transaction=True)

PATHS = {
    "ours": "",
    "sync": "tests.bolt.request_url_apps.matching_sync",
    "async": "tests.bolt.request_url_apps.matching_async",
}
REFUSED = b"unusable request: "


@pytest.fixture
def forget_apps() -> Iterator[None]:
    yield
    with override_settings(SLACK_BOLT_APP=""):  # the apps are cached until a setting changes
        pass


def answers(body: bytes, content_type: str) -> dict[str, tuple[int, bytes]]:
    """Each path's (status, first bytes of the answer) for one signed body."""
    found = {}
    for name, app in PATHS.items():
        with override_settings(SLACK_BOLT_APP=app):
            assert request_url.is_async() == (name == "async")
            client = Client(raise_request_exception=False)
            environ = signed_environ(body)
            response = client.generic(
                "POST", "/slack/events", data=body, content_type=content_type, **environ
            )
        found[name] = (response.status_code, response.content[:60])
    return found


@hypothesis_settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies, content_type=content_types)
@example(body=b'{"type": "event_callback", "event": {"type": "app_mention", "text": "hi"}}',
         content_type=JSON)  # fmt: skip
@example(body=b"command=%2Fhello&team_id=T0A&user_id=U0A", content_type=FORM)
@example(body=b'{"type": "url_verification", "challenge": "c"}', content_type=JSON)
@example(body=b'{"type": "event_callback", "event": {"type": "message", "text": 5}}',
         content_type=JSON)  # fmt: skip
@example(body=b'{"type": "block_actions", "actions": [{"action_id": 5}]}', content_type=JSON)
@example(body=b'{"type": "view_submission", "view": {"callback_id": []}}', content_type=JSON)
@example(body=b'{"type": "event_callback", "event": {"type": "message", "subtype": 1}}',
         content_type=JSON)  # fmt: skip
def test_no_signed_body_is_a_5xx_and_every_path_refuses_the_same(
    forget_apps: None, body: bytes, content_type: str
) -> None:
    found = answers(body, content_type)
    assert all(status < 500 for status, _ in found.values()), found
    refused = {name for name, (status, text) in found.items() if status == 400}
    assert refused in (set(), set(PATHS)), found
    assert all(text.startswith(REFUSED) for name, (_, text) in found.items() if name in refused)


@pytest.mark.parametrize("body,content_type", UNUSABLE.values(), ids=UNUSABLE.keys())
def test_bodies_bolt_could_not_use_are_a_400_on_every_path(
    forget_apps: None, body: bytes, content_type: str
) -> None:
    found = answers(body, content_type)
    assert {status for status, _ in found.values()} == {400}, found
    assert all(text.startswith(REFUSED) for _, text in found.values())


def test_url_verification_is_answered_on_every_path(forget_apps: None) -> None:
    found = answers(b'{"type": "url_verification", "challenge": "c0ffee"}', JSON)
    assert {status for status, _ in found.values()} == {200}
    assert found["ours"][1] == b"c0ffee"
    assert b"c0ffee" in found["sync"][1] and b"c0ffee" in found["async"][1]


@pytest.mark.parametrize("url", ["/slack/commands", "/slack/interactions"])
@pytest.mark.parametrize("app", ["sync", "async"])
@pytest.mark.parametrize("body,content_type", UNUSABLE.values(), ids=UNUSABLE.keys())
def test_the_other_bolt_urls_refuse_them_too(
    forget_apps: None, url: str, app: str, body: bytes, content_type: str
) -> None:
    with override_settings(SLACK_BOLT_APP=PATHS[app]):
        client = Client(raise_request_exception=False)
        environ = signed_environ(body)
        response = client.generic("POST", url, data=body, content_type=content_type, **environ)
    assert response.status_code == 400, response.content[:200]
    assert response.content.startswith(REFUSED)
