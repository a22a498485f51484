"""POST /slack/events: the signature is checked on the raw body before anything else.

docs/security.md, "§6 The Events API"; docs.slack.dev/authentication/verifying-requests-from-slack.
Odd header values and bodies of every form: tests/slack/test_events_fuzz.py.
"""

from __future__ import annotations

import json
import logging
import secrets
import time

import pytest
from slack_sdk.signature import Clock

from installations.models import LifecycleEvent, ProcessedSlackEvent, Workspace
from installations.slack import signature as slack_signature
from tests.support.lifecycle import envelope, sign

# Slack's documented example (docs.slack.dev/authentication/verifying-requests-from-slack;
# python-slack-sdk tests/signature/test_signature_verifier.py): a public test vector.
GOLDEN_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
GOLDEN_TIMESTAMP = 1531420618
GOLDEN_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIG"
    b"lgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
GOLDEN_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


class FrozenClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def golden_headers() -> dict[str, str]:
    return {
        "X-Slack-Request-Timestamp": str(GOLDEN_TIMESTAMP),
        "X-Slack-Signature": GOLDEN_SIGNATURE,
    }


def test_golden_vector_verifies_with_a_frozen_clock(settings):
    settings.SLACK_SIGNING_SECRET = GOLDEN_SECRET
    clock = FrozenClock(GOLDEN_TIMESTAMP + 10)
    assert slack_signature.verify_signature(GOLDEN_BODY, golden_headers(), clock=clock)


def test_golden_vector_with_one_byte_changed_fails(settings):
    settings.SLACK_SIGNING_SECRET = GOLDEN_SECRET
    clock = FrozenClock(GOLDEN_TIMESTAMP + 10)
    tampered = GOLDEN_BODY.replace(b"foobar", b"foobaz")
    assert not slack_signature.verify_signature(tampered, golden_headers(), clock=clock)


@pytest.mark.parametrize("offset", [-301, 301])
def test_golden_vector_outside_the_five_minute_window_fails(settings, offset):
    settings.SLACK_SIGNING_SECRET = GOLDEN_SECRET
    clock = FrozenClock(GOLDEN_TIMESTAMP + offset)
    assert not slack_signature.verify_signature(GOLDEN_BODY, golden_headers(), clock=clock)


def test_golden_vector_through_the_endpoint_is_stale_today(client, settings, db):
    settings.SLACK_SIGNING_SECRET = GOLDEN_SECRET
    response = client.post(
        "/slack/events",
        data=GOLDEN_BODY,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=str(GOLDEN_TIMESTAMP),
        HTTP_X_SLACK_SIGNATURE=GOLDEN_SIGNATURE,
    )
    assert response.status_code == 401


def test_signed_url_verification_echoes_the_challenge_as_plain_text(post_event, db):
    challenge = "<b>" + secrets.token_urlsafe(24) + "</b>"
    response = post_event({"type": "url_verification", "challenge": challenge, "token": "x"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == challenge


def test_unsigned_url_verification_is_refused(post_event, db):
    response = post_event({"type": "url_verification", "challenge": "abc"}, signed=False)
    assert response.status_code == 401
    assert b"abc" not in response.content


@pytest.mark.parametrize(
    "drop", ["HTTP_X_SLACK_SIGNATURE", "HTTP_X_SLACK_REQUEST_TIMESTAMP"], ids=["no-sig", "no-ts"]
)
def test_missing_signature_header_is_refused(client, db, drop):
    body = json.dumps({"type": "url_verification", "challenge": "abc"}).encode()
    headers = sign(body)
    del headers[drop]
    response = client.post("/slack/events", data=body, content_type="application/json", **headers)
    assert response.status_code == 401


def test_signature_made_with_another_secret_is_refused(post_event, db):
    response = post_event({"type": "url_verification", "challenge": "abc"}, secret="not-ours")
    assert response.status_code == 401


@pytest.mark.parametrize("offset", [-301, 301, -600])
def test_stale_or_future_timestamp_is_refused(post_event, db, offset):
    payload = {"type": "url_verification", "challenge": "abc"}
    assert post_event(payload, timestamp=int(time.time()) + offset).status_code == 401


def test_timestamp_inside_the_window_is_accepted(post_event, db):
    payload = {"type": "url_verification", "challenge": "abc"}
    assert post_event(payload, timestamp=int(time.time()) - 250).status_code == 200


def test_v1_prefix_is_refused(client, db):
    body = json.dumps({"type": "url_verification", "challenge": "abc"}).encode()
    headers = sign(body)
    headers["HTTP_X_SLACK_SIGNATURE"] = headers["HTTP_X_SLACK_SIGNATURE"].replace("v0=", "v1=")
    response = client.post("/slack/events", data=body, content_type="application/json", **headers)
    assert response.status_code == 401


def test_reserialized_json_with_other_spacing_is_refused(client, db):
    payload = {"type": "url_verification", "challenge": "abc"}
    signed_body = json.dumps(payload, separators=(",", ":")).encode()
    sent_body = json.dumps(payload, indent=2).encode()
    response = client.post(
        "/slack/events", data=sent_body, content_type="application/json", **sign(signed_body)
    )
    assert response.status_code == 401


def test_legacy_verification_token_without_signature_is_refused(post_event, saved_workspace):
    workspace = saved_workspace()
    payload = envelope({"type": "app_uninstalled"}, token="legacy-verification-token")
    assert post_event(payload, signed=False).status_code == 401
    workspace.refresh_from_db()
    assert workspace.uninstalled_at is None and workspace.bot_token is not None
    assert not ProcessedSlackEvent.objects.exists()


def test_bad_signature_changes_nothing_and_logs_no_body(post_event, saved_workspace, caplog):
    workspace = saved_workspace()
    canary = "canary-" + secrets.token_hex(8)
    payload = envelope({"type": "app_uninstalled", "note": canary})
    with caplog.at_level(logging.DEBUG):
        response = post_event(payload, secret="wrong-secret-" + canary)
    assert response.status_code == 401
    assert canary not in caplog.text and canary not in response.content.decode()
    assert "v0=" not in caplog.text
    assert Workspace.objects.get(pk=workspace.pk).uninstalled_at is None
    assert not LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.UNINSTALLED).exists()


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"", b'"text"'])
def test_valid_signature_with_malformed_json_is_400(post_event, db, body):
    response = post_event(body)
    assert response.status_code == 400


def test_body_that_is_not_utf8_is_refused_not_a_crash(client, db):
    headers = sign(b"{}")
    response = client.post(
        "/slack/events", data=b"\xff\xfe{}", content_type="application/json", **headers
    )
    assert response.status_code == 401


def test_get_is_not_allowed(client, db):
    assert client.get("/slack/events").status_code == 405


def test_missing_signing_secret_refuses_every_event(post_event, settings, db):
    payload = {"type": "url_verification", "challenge": "abc"}
    secret = settings.SLACK_SIGNING_SECRET
    settings.SLACK_SIGNING_SECRET = ""
    assert post_event(payload, secret=secret).status_code == 401


@pytest.mark.parametrize("timestamp", ["abc", "", "1e9", " "])
def test_malformed_timestamp_header_is_refused_not_a_crash(client, db, timestamp):
    response = client.post(
        "/slack/events",
        data=b'{"type": "url_verification", "challenge": "abc"}',
        content_type="application/json",
        headers={"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": "v0=00"},
    )
    assert response.status_code == 401
