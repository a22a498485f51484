"""``KeptAliveWebClient`` (installations/slack/kept_alive.py): slack_sdk's WebClient on our
kept-alive connections, answering and failing exactly as slack_sdk's own.

Real HTTP to the stand-in and its fault injection: the same call, with the same fault queued,
goes through slack_sdk's plain ``WebClient`` and through ours, and what the caller gets (the
response, or the exception and its response) must be the same. Then what differs on purpose: one
connection per thread instead of one per call, a fresh one after a fault, no redirect followed,
no 1 MiB cap; and what falls back to slack_sdk's own path (a proxy).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.web import SlackResponse

from installations.slack import transport
from installations.slack.kept_alive import KeptAliveWebClient, kept_alive_twin
from slackstandin import SlackStandIn
from slackstandin.tokens import mint_bot

TIMEOUT = 1  # seconds: the delay fault below outlasts it
LARGE = 2 * 1024 * 1024  # over transport.MAX_ANSWER_BYTES, the cap on our own calls
UNCOMPARED_HEADERS = frozenset({"date", "connection"})  # the clock; urllib's "close"


@pytest.fixture(autouse=True)
def _no_connection_left() -> Iterator[None]:
    transport.close_idle_connections()  # this thread starts with none kept
    yield
    transport.close_idle_connections()


def bot(standin: SlackStandIn, team_id: str = "T0KEPT") -> str:
    return mint_bot(standin.state, team_id, team_name=f"Team {team_id}").token


def clients(
    standin: SlackStandIn, token: str, retry_handlers: list[RetryHandler] | None = None
) -> dict[str, WebClient]:
    options: dict[str, Any] = {
        "token": token,
        "base_url": standin.api_url,
        "timeout": TIMEOUT,
        "retry_handlers": retry_handlers,
    }
    return {"slack_sdk": WebClient(**options), "kept alive": KeptAliveWebClient(**options)}


def comparable_headers(headers: Any) -> dict[str, Any]:
    return {k.lower(): v for k, v in dict(headers).items() if k.lower() not in UNCOMPARED_HEADERS}


def outcome(call: Callable[[], SlackResponse]) -> tuple[Any, ...]:
    """What the caller sees: the answer, or the exception (with its response, if any)."""
    try:
        response = call()
    except SlackApiError as exc:
        answer, headers = exc.response, comparable_headers(exc.response.headers)
        return ("SlackApiError", answer.status_code, answer.data, headers)
    except Exception as exc:  # the type is the outcome: retry handlers and callers key on it
        return (type(exc).__name__,)
    return ("ok", response.status_code, response.data, comparable_headers(response.headers))


FAULTS: dict[str, dict[str, Any]] = {
    "none": {},
    "refusal": {"error": "invalid_auth"},
    "429": {"status": 429, "retry_after": "7"},
    "500 JSON": {"status": 500},
    "503 HTML": {"status": 503, "html": True},
    "200 HTML": {"html": True},
    "not an object": {"body": ["ok", True]},
    "truncated": {"truncate": 25},
    "UTF-16": {"charset": "utf-16"},
    "huge": {"huge": LARGE},
    "drop, retried": {"drop": True},
    "drop twice": {"drop": True, "times": 2},
    "delay past the timeout": {"delay": TIMEOUT + 0.5},
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_every_answer_and_fault_reaches_the_caller_as_slack_sdk_delivers_it(
    standin: SlackStandIn, fault: dict[str, Any]
) -> None:
    token = bot(standin)
    seen: dict[str, tuple[Any, ...]] = {}
    calls: dict[str, int] = {}
    for name, client in clients(standin, token).items():
        before = len(standin.calls_to("auth.test"))
        if fault:
            standin.fail_next("auth.test", **fault)
        seen[name] = outcome(client.auth_test)
        standin.wait_idle()
        calls[name] = len(standin.calls_to("auth.test")) - before
    assert seen["kept alive"] == seen["slack_sdk"]
    assert calls["kept alive"] == calls["slack_sdk"]  # the same retries
    if fault.get("huge"):
        assert seen["kept alive"][0] == "ok"
        assert len(seen["kept alive"][2]["padding"]) > transport.MAX_ANSWER_BYTES


def test_the_rate_limit_handler_waits_and_retries_as_with_slack_sdk(
    standin: SlackStandIn,
) -> None:
    token = bot(standin)
    handlers: list[RetryHandler] = [ConnectionErrorRetryHandler(), RateLimitErrorRetryHandler()]
    for name, client in clients(standin, token, handlers).items():
        before = len(standin.calls_to("auth.test"))
        standin.fail_next("auth.test", status=429, retry_after="0")
        assert client.auth_test()["team_id"] == "T0KEPT", name
        assert len(standin.calls_to("auth.test")) - before == 2, name


def test_the_request_is_the_one_slack_sdk_sends(standin: SlackStandIn) -> None:
    """Form, JSON and multipart (a file upload): the same headers reach Slack."""
    token = bot(standin)
    received: dict[str, list[dict[str, str]]] = {}
    for name, client in clients(standin, token).items():
        before = len(standin.calls)
        client.auth_test()
        client.api_call("auth.test", json={"probe": True})
        standin.fail_next("files.upload", body={"ok": True, "file": {"id": "F0KEPT"}})
        upload = client.api_call(
            "files.upload", data={"channels": "C0KEPT"}, files={"file": io.BytesIO(b"x" * 5000)}
        )
        assert upload["file"] == {"id": "F0KEPT"}
        received[name] = [
            {k: v for k, v in call.headers.items() if k not in UNCOMPARED_HEADERS}
            for call in standin.calls[before:]
        ]
    ours, theirs = received["kept alive"], received["slack_sdk"]
    assert ours[2].pop("content-type").startswith("multipart/form-data; boundary=")
    assert theirs[2].pop("content-type").startswith("multipart/form-data; boundary=")
    assert ours == theirs
    assert int(ours[2]["content-length"]) > 5000
    assert ours[0]["authorization"] == f"Bearer {token}"


def test_calls_share_one_connection_per_thread(standin: SlackStandIn) -> None:
    token = bot(standin)
    plain, ours = clients(standin, token).values()
    for _ in range(5):
        plain.auth_test()
    assert standin.state.connections == 5  # slack_sdk: a new connection per call
    for _ in range(5):
        ours.auth_test()
    KeptAliveWebClient(token=token, base_url=standin.api_url).auth_test()  # another client
    assert standin.state.connections == 6
    assert transport.idle_connection_count() == 1


@pytest.mark.parametrize(
    "fault",
    [{"drop": True}, {"delay": TIMEOUT + 0.5}, {"trickle": 0.3}],
    ids=["reset", "timeout", "trickle"],
)
def test_a_call_after_a_fault_opens_a_fresh_connection(
    standin: SlackStandIn, fault: dict[str, Any]
) -> None:
    first, second = bot(standin, "T0FIRST"), bot(standin, "T0SECOND")
    client = KeptAliveWebClient(base_url=standin.api_url, timeout=TIMEOUT, retry_handlers=[])
    assert client.auth_test(token=first)["team_id"] == "T0FIRST"
    standin.fail_next("auth.test", **fault)
    with pytest.raises((ConnectionError, TimeoutError)):
        client.auth_test(token=first)
    assert standin.state.connections == 1
    assert client.auth_test(token=second)["team_id"] == "T0SECOND"  # never the late answer
    assert standin.state.connections == 2
    standin.wait_idle()


def test_a_redirect_is_not_followed(
    standin: SlackStandIn, elsewhere: tuple[str, list[bytes]]
) -> None:
    url, received = elsewhere
    client = KeptAliveWebClient(token=bot(standin), base_url=standin.api_url)
    standin.fail_next("auth.test", redirect=f"{url}/api/auth.test")
    with pytest.raises(SlackApiError) as raised:
        client.auth_test()
    assert raised.value.response.status_code == 302
    assert received == []  # the token went nowhere else


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_a_proxy_is_honoured_through_slack_sdks_own_path(
    standin: SlackStandIn,
    elsewhere: tuple[str, list[bytes]],
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    proxy, received = elsewhere
    options: dict[str, Any] = {"token": bot(standin), "base_url": standin.api_url, "timeout": 1}
    if how == "argument":
        options["proxy"] = proxy
    else:
        monkeypatch.setenv("HTTP_PROXY", proxy)  # slack_sdk reads it when the client is made
    with pytest.raises(Exception):  # noqa: B017 - the recording "proxy" never answers
        KeptAliveWebClient(**options).auth_test()
    assert received and received[0].startswith(f"POST {standin.api_url}auth.test ".encode())
    assert standin.calls_to("auth.test") == []


def test_the_twin_carries_every_setting(standin: SlackStandIn) -> None:
    original = WebClient(
        token="xoxb-0-fake",
        base_url=standin.api_url,
        timeout=7,
        headers={"X-Extra": "1"},
        team_id="T0TWIN",
        logger=logging.getLogger("twin"),
        retry_handlers=[RateLimitErrorRetryHandler()],
    )
    twin = kept_alive_twin(original)
    assert type(twin) is KeptAliveWebClient
    assert vars(twin) == vars(original)


def test_no_token_in_logs_or_errors(
    standin: SlackStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    token = bot(standin)
    client = KeptAliveWebClient(token=token, base_url=standin.api_url, timeout=TIMEOUT)
    texts: list[str] = []
    with (
        caplog.at_level(logging.DEBUG),
        caplog.at_level(logging.DEBUG, logger="slack_sdk.web.base_client"),
    ):
        client.auth_test()
        for fault in FAULTS.values():
            if fault:
                standin.fail_next("auth.test", **fault)
            try:
                client.auth_test()
            except Exception as exc:  # its words are what is checked
                texts.append(repr(exc) + str(exc))
            standin.wait_idle()
    assert any("Received the following response" in r.getMessage() for r in caplog.records)
    assert token not in caplog.text
    assert not [text for text in texts if token in text]
