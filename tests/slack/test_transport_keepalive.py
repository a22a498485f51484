"""Kept-alive connections to Slack (issue 15): reused per thread, never after a fault.

Real HTTP to the stand-in, which counts the TCP connections it accepts. Before issue 15 every
call opened its own connection (``Connection: close``); a connection that failed mid-answer must
still never carry another request, or the next call could read the previous call's late answer.
"""

from __future__ import annotations

import socketserver
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from installations.exceptions import SlackInstallError
from installations.slack import api as slack_api
from installations.slack import transport
from slackstandin import SlackStandIn
from slackstandin.tokens import mint_bot


@pytest.fixture(autouse=True)
def _short_deadline(settings: Any) -> None:
    settings.SLACK_HTTP_TIMEOUT_SECONDS = 1


@pytest.fixture(autouse=True)
def _no_connection_left() -> Iterator[None]:
    transport.close_idle_connections()  # this thread starts with none kept
    yield
    transport.close_idle_connections()


def bot(standin: SlackStandIn, team_id: str) -> str:
    """A live bot token of ``team_id``, as the stand-in would have issued it."""
    record = mint_bot(standin.state, team_id, team_name=f"Team {team_id}")
    return record.token


def team_of(token: str, client: Any = None) -> str:
    return str(slack_api.auth_test(token, client=client)["team_id"])


def test_calls_from_one_thread_share_one_connection(standin: SlackStandIn) -> None:
    tokens = [bot(standin, f"T0KEEP{n}") for n in range(20)]
    client = slack_api.patient_client()
    assert [team_of(t, client) for t in tokens] == [f"T0KEEP{n}" for n in range(20)]
    assert [team_of(t) for t in tokens[:5]] == [f"T0KEEP{n}" for n in range(5)]  # new clients
    assert standin.state.connections == 1
    assert transport.idle_connection_count() == 1


def test_each_thread_has_its_own_connection(standin: SlackStandIn) -> None:
    tokens = [bot(standin, f"T0THREAD{n}") for n in range(3)]
    barrier = threading.Barrier(3)
    answers: list[str] = []

    def work(token: str) -> None:
        barrier.wait()
        try:
            answers.extend(team_of(token) for _ in range(4))
        finally:
            transport.close_idle_connections()

    threads = [threading.Thread(target=work, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(answers) == sorted(f"T0THREAD{n}" for n in range(3) for _ in range(4))
    assert standin.state.connections == 3


@pytest.mark.parametrize(
    "fault",
    [
        {"delay": 1.5},  # past the 1 s deadline: its answer arrives later on that connection
        {"trickle": 0.3},  # cut off mid-body at the deadline
        {"huge": 2 * 1024 * 1024},  # over the cap: the rest of the body is still coming
        {"drop": True, "times": 2},  # hung up (and retried once: dropped again)
        {"status": 500, "html": True},  # a whole answer, but an error page: may be reused
    ],
    ids=["timeout", "trickle", "huge", "drop", "error-page"],
)
def test_a_connection_that_failed_mid_answer_is_never_reused(
    standin: SlackStandIn, fault: dict[str, Any]
) -> None:
    first, second = bot(standin, "T0FIRST"), bot(standin, "T0SECOND")
    assert team_of(first) == "T0FIRST"
    assert standin.state.connections == 1
    standin.fail_next("auth.test", **fault)
    with pytest.raises(SlackInstallError):
        team_of(first)
    before = standin.state.connections
    assert team_of(second) == "T0SECOND"  # its own answer, never the faulted call's late one
    if fault.get("html"):  # read whole: the connection was fit for the next call
        assert standin.state.connections == before == 1
    else:
        assert standin.state.connections == before + 1
    standin.wait_idle()


def test_a_connection_idle_too_long_is_not_reused(
    standin: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = bot(standin, "T0IDLE")
    team_of(token)
    monkeypatch.setattr(transport, "IDLE_SECONDS", 0.0)
    team_of(token)
    assert standin.state.connections == 2


@pytest.fixture
def answers_once() -> Iterator[tuple[str, list[int]]]:
    """A server that answers one request per connection with a kept-alive HTTP/1.1 answer, then
    hangs up: the next request on that connection would find it closed."""
    accepted: list[int] = []
    body = b'{"ok":true,"url":"https://t.slack.com/","team_id":"T0ONCE","user_id":"U1"}'

    class AnswerOnce(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            accepted.append(1)
            length = 0
            while (line := self.rfile.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            self.rfile.read(length)
            self.wfile.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), AnswerOnce)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/", accepted
    server.shutdown()
    server.server_close()


def test_a_connection_the_server_closed_while_idle_is_not_reused(
    answers_once: tuple[str, list[int]], settings: Any
) -> None:
    url, accepted = answers_once
    settings.SLACK_API_URL = url
    client = slack_api.single_use_client()  # no retry: a reused dead connection would fail
    for _ in range(3):
        assert client.auth_test(token="xoxb-fake")["team_id"] == "T0ONCE"
        time.sleep(0.2)  # the server hung up meanwhile (a server idling out a connection)
    assert len(accepted) == 3
