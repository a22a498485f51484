"""Transport limits of every Slack call: one deadline, a size cap, no redirects, sane Retry-After.

Real HTTP to the stand-in (and, for what it cannot do, to tiny servers here: one that trickles
its status line, one that is not HTTP, a TLS server behind a CONNECT proxy). The property tests
hold every client to its contract: whatever the answer, a call raises only SlackApiError or our
SlackInstallError family, and tokens from an unusable refresh answer do not stay live.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackTokenRotationError
from slack_sdk.http_retry import RateLimitErrorRetryHandler
from slack_sdk.oauth.installation_store import Bot

from installations.exceptions import (
    SlackInstallError,
    SlackRefused,
    SlackUnavailable,
    UnexpectedAnswer,
)
from installations.slack import api as slack_api
from installations.slack.answers import InstallAnswer, UnusableInstallAnswer
from installations.slack.client import SlackWebClient
from installations.slack.transport import MAX_ANSWER_BYTES, parse_retry_after
from slackstandin import SlackStandIn
from slackstandin.tokens import mint_bot
from tests.support.standin import known_token, live_and_unkept

REDIRECT_URI = "https://testserver/slack/oauth_redirect"
PROPERTY = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(autouse=True)
def _short_deadline(settings: Any) -> None:
    settings.SLACK_HTTP_TIMEOUT_SECONDS = 1
    settings.SLACK_REDIRECT_URI = REDIRECT_URI


def approve(standin: SlackStandIn, **choices: Any) -> str:
    url = f"{standin.authorize_url}?client_id={standin.client_id}&scope=commands"
    url += f"&redirect_uri={REDIRECT_URI}&state=s"
    redirect = standin.approve(url, **choices)
    return parse_qs(urlsplit(redirect).query)["code"][0]


def bot_token(standin: SlackStandIn, **choices: Any) -> dict[str, Any]:
    """A real install answer from the stand-in, exchanged without our client."""
    answer = (
        WebClient(base_url=standin.api_url)
        .oauth_v2_access(
            client_id=standin.client_id,
            client_secret=standin.client_secret,
            code=approve(standin, **choices),
            redirect_uri=REDIRECT_URI,
        )
        .data
    )
    assert isinstance(answer, dict)  # JSON, not bytes
    return answer


def reason_of(call: Any) -> str:
    with pytest.raises(SlackInstallError) as info:
        call()
    return info.value.reason


def timed(call: Any) -> tuple[str, float]:
    started = time.monotonic()
    return reason_of(call), time.monotonic() - started


@pytest.fixture
def raw_server() -> Iterator[Any]:
    """A TCP server answering each connection with ``behaviour(socket)``."""
    holder: dict[str, Any] = {}

    class Serve(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(65536)
            try:
                holder["behaviour"](self.request)
            except OSError:
                pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Serve)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()

    def use(behaviour: Any) -> str:
        holder["behaviour"] = behaviour
        return f"http://127.0.0.1:{server.server_address[1]}/api/"

    yield use
    server.shutdown()
    server.server_close()


# --- the deadline -----------------------------------------------------------------------------


def test_an_answer_trickling_in_ends_at_the_deadline(standin: SlackStandIn) -> None:
    """A byte every 0.3 s never trips a per-read timeout of 1 s; the deadline stops it."""
    standin.fail_next("auth.test", body={"ok": True, "padding": "x" * 50}, trickle=0.3)
    reason, elapsed = timed(lambda: slack_api.auth_test("xoxb-standin-fake"))
    assert reason == "slack_timeout" and 0.9 < elapsed < 1.6


def test_a_status_line_trickling_in_ends_at_the_deadline(raw_server: Any, settings: Any) -> None:
    def trickle(sock: socket.socket) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n":
            sock.sendall(bytes([byte]))
            time.sleep(0.2)

    settings.SLACK_API_URL = raw_server(trickle)
    reason, elapsed = timed(lambda: slack_api.auth_test("xoxb-standin-fake"))
    assert reason == "slack_timeout" and elapsed < 1.6


def test_a_slow_exchange_is_one_request_within_the_deadline(standin: SlackStandIn) -> None:
    standin.fail_next("oauth.v2.access", delay=3)
    reason, elapsed = timed(lambda: slack_api.exchange_code(approve(standin)))
    assert reason == "slack_timeout" and elapsed < 1.6
    assert len(standin.calls_to("oauth.v2.access")) == 1


# --- the size cap -----------------------------------------------------------------------------


def test_answers_over_the_cap_are_refused_whether_or_not_announced(standin: SlackStandIn) -> None:
    standin.fail_next("auth.test", huge=MAX_ANSWER_BYTES + 1024)  # no Content-Length: counted
    assert reason_of(lambda: slack_api.auth_test("x")) == "slack_answer_too_large"
    announced = b'{"ok":true,"p":"' + b"x" * MAX_ANSWER_BYTES + b'"}'
    standin.fail_next("auth.test", raw=announced, content_type="application/json")
    assert reason_of(lambda: slack_api.auth_test("x")) == "slack_answer_too_large"
    just_under = {"ok": True, "padding": "x" * (MAX_ANSWER_BYTES - 100)}
    standin.fail_next("auth.test", body=just_under)
    assert slack_api.auth_test("x")["ok"] is True


# --- no redirects -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_refused_and_its_location_hears_nothing(
    standin: SlackStandIn, elsewhere: tuple[str, list[bytes]], status: int
) -> None:
    url, received = elsewhere
    standin.fail_next("oauth.v2.access", redirect=f"{url}/api/oauth.v2.access", status=status)
    assert reason_of(lambda: slack_api.exchange_code(approve(standin))) == "slack_redirect"
    standin.fail_next("auth.test", redirect=f"{url}/api/auth.test", status=status)
    assert reason_of(lambda: slack_api.auth_test("xoxb-standin-fake")) == "slack_redirect"
    time.sleep(0.1)
    assert received == []


# --- Retry-After ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "-5", "1e9", "", "86400", "2.5", "99999999999999999999"])
def test_an_odd_retry_after_is_not_waited_for_in_a_request(
    standin: SlackStandIn, value: str
) -> None:
    standin.fail_next("oauth.v2.access", status=429, retry_after=value)
    reason, elapsed = timed(lambda: slack_api.exchange_code(approve(standin)))
    assert reason == "ratelimited" and elapsed < 0.5
    assert len(standin.calls_to("oauth.v2.access")) == 1


def test_a_short_retry_after_is_waited_for_once(standin: SlackStandIn) -> None:
    standin.fail_next("oauth.v2.access", status=429, retry_after="1")
    answer = slack_api.exchange_code(approve(standin))
    assert isinstance(answer, InstallAnswer) and len(standin.calls_to("oauth.v2.access")) == 2


@pytest.mark.parametrize(("value", "retried"), [("abc", True), ("", True), ("86400", False)])
def test_the_patient_client_waits_a_bounded_time(
    standin: SlackStandIn, value: str, retried: bool
) -> None:
    token = bot_token(standin)["access_token"]
    standin.fail_next("auth.test", status=429, retry_after=value)
    started = time.monotonic()
    if retried:
        assert slack_api.auth_test(token, client=slack_api.patient_client())["ok"] is True
    else:
        assert reason_of(lambda: slack_api.auth_test(token, client=slack_api.patient_client())) == (
            "ratelimited"
        )
    assert time.monotonic() - started < 2.5
    assert len(standin.calls_to("auth.test")) == (2 if retried else 1)


def test_slack_sdks_own_rate_limit_handler_no_longer_crashes(standin: SlackStandIn) -> None:
    token = bot_token(standin)["access_token"]
    standin.fail_next("auth.test", status=429, retry_after="abc")
    client = slack_api.idempotent_client(rate_limit_handler=RateLimitErrorRetryHandler())
    assert slack_api.auth_test(token, client=client)["ok"] is True  # dropped header: 1 s wait


def test_retry_after_values() -> None:
    now = 1_700_000_000.0
    date = datetime.datetime.fromtimestamp(now + 20, tz=datetime.UTC)
    http_date = date.strftime("%a, %d %b %Y %H:%M:%S GMT")
    cases = {"7": 7, " 0 ": 0, "0007": 7, "86400": 300, "9" * 30: 300, http_date: 20}
    for value, seconds in cases.items():
        assert parse_retry_after(value, now=now) == seconds
    for unreadable in ("abc", "-5", "1e9", "", "2.5", "٣", None, 5, "Sun, 32 Foo 2015"):
        assert parse_retry_after(unreadable, now=now) is None


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(max_size=40))
def test_any_retry_after_is_none_or_bounded(value: str) -> None:
    seconds = parse_retry_after(value)
    assert seconds is None or 0 <= seconds <= 300


# --- connections, status codes, things that are not HTTP --------------------------------------


def test_a_dropped_connection(standin: SlackStandIn) -> None:
    standin.fail_next("oauth.v2.access", drop=True)
    assert reason_of(lambda: slack_api.exchange_code(approve(standin))) == "slack_unavailable"
    assert len(standin.calls_to("oauth.v2.access")) == 1  # a single-use code: never resent
    token = bot_token(standin)["access_token"]
    standin.fail_next("auth.test", drop=True)
    assert slack_api.auth_test(token)["ok"] is True  # idempotent: retried once


@pytest.mark.parametrize(
    "fault",
    [{"delay": 1.5}, {"trickle": 0.3}, {"huge": 2 * 1024 * 1024}, {"drop": True, "times": 2}],
    ids=["timeout", "trickle", "huge", "drop"],
)
def test_the_call_after_a_fault_reads_its_own_answer(
    standin: SlackStandIn, fault: dict[str, Any]
) -> None:
    """A call cut off mid-answer leaves nothing behind: the late rest of its answer is never
    read as the next call's."""
    first, second = (mint_bot(standin.state, team).token for team in ("T0FIRST", "T0SECOND"))
    standin.fail_next("auth.test", **fault)
    with pytest.raises(SlackInstallError):
        slack_api.auth_test(first)
    assert slack_api.auth_test(second)["team_id"] == "T0SECOND"
    standin.wait_idle()


def test_a_refused_connection(settings: Any) -> None:
    settings.SLACK_API_URL = "http://127.0.0.1:9/api/"  # the discard port
    reason, elapsed = timed(lambda: slack_api.exchange_code("code"))
    assert reason == "slack_unavailable" and elapsed < 3


def test_server_errors_and_error_pages(standin: SlackStandIn) -> None:
    standin.fail_next("auth.test", status=500)
    with pytest.raises(SlackApiError) as info:  # Slack's JSON envelope: Slack's own refusal
        slack_api.idempotent_client().auth_test(token="x")
    assert info.value.response.status_code == 500
    standin.fail_next("auth.test", status=500)
    assert reason_of(lambda: slack_api.auth_test("x")) == "slack_http_error"
    standin.fail_next("auth.test", status=503, html=True)
    assert reason_of(lambda: slack_api.auth_test("x")) == "slack_http_error"
    standin.fail_next("auth.test", html=True)  # a 200 page: not an answer we can use
    assert reason_of(lambda: slack_api.auth_test("x")) == "unexpected_response"
    standin.fail_next("auth.test", error="<script>alert(1)</script>")
    with pytest.raises(SlackRefused) as refused:
        slack_api.auth_test("x")
    assert refused.value.reason == "scriptalert1script"


def test_a_header_http_client_refuses_is_never_sent(standin: SlackStandIn) -> None:
    assert reason_of(lambda: slack_api.auth_test("xoxb-fake\r\nX-Injected: 1")) == (
        "slack_bad_request"
    )
    assert standin.calls_to("auth.test") == []


@pytest.mark.parametrize(
    "answer",
    [b"garbage\r\n\r\n", b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 200 + b"\r\n", b""],
)
def test_an_answer_that_is_not_http(raw_server: Any, settings: Any, answer: bytes) -> None:
    settings.SLACK_API_URL = raw_server(lambda sock: sock.sendall(answer))
    assert reason_of(lambda: slack_api.exchange_code("code")) in (
        "slack_http_error",
        "slack_unavailable",
    )


def test_an_answer_cut_short_of_its_content_length(raw_server: Any, settings: Any) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    settings.SLACK_API_URL = raw_server(lambda sock: sock.sendall(head + b'{"ok":true'))
    assert reason_of(lambda: slack_api.exchange_code("code")) == "slack_unavailable"


# --- HTTPS, through a CONNECT proxy -----------------------------------------------------------


def self_signed(tmp_path: Path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


@pytest.fixture
def tls_slack(tmp_path: Path) -> Iterator[tuple[int, ssl.SSLContext]]:
    """A TLS server answering auth.test; and an SSL context that trusts its certificate."""
    cert, key = self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    body = json.dumps({"ok": True, "url": "https://tls.slack.com/", "bot_id": "B0TLS"}).encode()

    class Answer(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            try:
                tls = server_context.wrap_socket(self.request, server_side=True)
            except ssl.SSLError:  # the client refused our certificate
                return
            with tls:
                tls.recv(65536)
                tls.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"x-oauth-scopes: commands\r\n"
                    + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Answer)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    client_context = ssl.create_default_context(cafile=cert)
    yield server.server_address[1], client_context
    server.shutdown()
    server.server_close()


@pytest.fixture
def connect_proxy() -> Iterator[tuple[int, list[str]]]:
    """An HTTP CONNECT proxy that relays bytes and records what it was asked for."""
    asked: list[str] = []

    class Relay(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            request = self.rfile.readline().decode()
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
            asked.append(request.strip())
            host, port = request.split()[1].rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)))
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            pipes = [(self.connection, upstream), (upstream, self.connection)]
            threads = [threading.Thread(target=_pipe, args=p, daemon=True) for p in pipes]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(5)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Relay)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server.server_address[1], asked
    server.shutdown()
    server.server_close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def tls_client(port: int, context: ssl.SSLContext) -> SlackWebClient:
    return SlackWebClient(
        base_url=f"https://localhost:{port}/api/",
        ssl=context,
        timeout=2,
        retry_handlers=[],
        revoke=lambda tokens, label: None,
    )


def test_https_direct_and_through_a_connect_proxy(
    tls_slack: tuple[int, ssl.SSLContext],
    connect_proxy: tuple[int, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port, context = tls_slack
    for name in ("no_proxy", "NO_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    answer = tls_client(port, context).auth_test(token="xoxb-fake")
    assert answer["bot_id"] == "B0TLS" and answer.headers["x-oauth-scopes"] == "commands"
    proxy_port, asked = connect_proxy
    monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{proxy_port}")
    assert tls_client(port, context).auth_test(token="xoxb-fake")["url"] == (
        "https://tls.slack.com/"
    )
    assert [line.rsplit(" ", 1)[0] for line in asked] == [f"CONNECT localhost:{port}"]
    untrusted = ssl.create_default_context()  # the self-signed certificate is refused
    with pytest.raises(SlackUnavailable):
        tls_client(port, untrusted).auth_test(token="xoxb-fake")


# --- the contract, over arbitrary answers (hypothesis) ----------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
PATHS = st.sampled_from(
    ["ok", "access_token", "refresh_token", "expires_in", "token_type", "team", "team.id",
     "authed_user", "authed_user.id", "app_id", "bot_id", "url", "revoked", "error"]
)  # fmt: skip
NO_WAIT = st.sampled_from(["abc", "", "600"])  # a 429 that is not waited for keeps this fast
FAULTS = st.one_of(
    st.builds(
        dict,
        raw=st.binary(max_size=200),
        content_type=st.sampled_from(
            ["application/json", "text/html", "application/json; charset=latin-1", "x/y"]
        ),
        status=st.sampled_from([200, 201, 204, 400, 404, 429, 500, 503]),
        retry_after=NO_WAIT,
    ),
    st.builds(
        dict, body=JSON_VALUES, status=st.sampled_from([200, 400, 429, 500]), retry_after=NO_WAIT
    ),
    st.builds(dict, patch=st.dictionaries(PATHS, JSON_VALUES, min_size=1, max_size=2)),
    st.builds(dict, truncate=st.integers(0, 400)),
    st.builds(dict, charset=st.sampled_from(["utf-16", "latin-1", "utf-8", "x-unknown"])),
    st.builds(dict, html=st.just(True), status=st.sampled_from([200, 404, 502, 503])),
    st.builds(
        dict,
        error=st.text(max_size=30),
        status=st.sampled_from([200, 400, 429]),
        retry_after=NO_WAIT,
    ),
)
OURS = (SlackRefused, SlackUnavailable, UnexpectedAnswer)


@PROPERTY
@given(fault=FAULTS)
def test_an_exchange_raises_only_our_errors(standin: SlackStandIn, fault: dict[str, Any]) -> None:
    standin.fail_next("oauth.v2.access", **fault)
    try:
        answer = slack_api.exchange_code(approve(standin))
    except UnusableInstallAnswer as exc:
        assert not set(exc.issued.tokens) - set(t for b in standin.issued for t in _tokens(b))
    except OURS:
        pass
    else:
        assert isinstance(answer, InstallAnswer)


@PROPERTY
@given(fault=FAULTS)
def test_auth_test_raises_only_our_errors(standin: SlackStandIn, fault: dict[str, Any]) -> None:
    standin.fail_next("auth.test", **fault)
    try:
        answer = slack_api.auth_test("xoxb-standin-fake")
    except OURS:
        pass
    else:
        assert answer["ok"] is True


@PROPERTY
@given(fault=FAULTS)
def test_a_refresh_raises_only_our_errors_and_leaves_nothing_live(
    standin: SlackStandIn, fault: dict[str, Any]
) -> None:
    installed, bot = rotating_bot(standin)
    standin.fail_next("oauth.v2.access", **fault)
    kept = {installed["access_token"], installed["refresh_token"]}
    try:
        rotated = slack_api.token_rotator().perform_bot_token_rotation(
            bot=bot, minutes_before_expiration=10
        )
    except SlackTokenRotationError as exc:
        assert isinstance(exc.api_error.response.data, dict)
    except OURS:
        pass
    else:
        assert rotated is not None
        kept |= {rotated.bot_token, rotated.bot_refresh_token}
    assert live_and_unkept(standin, kept) == []
    standin.state.issued.clear()
    standin.state.lost.clear()


def rotating_bot(standin: SlackStandIn) -> tuple[dict[str, Any], Bot]:
    """A rotating install at the stand-in, and slack_sdk's Bot for it, due for a refresh."""
    installed = bot_token(standin, rotation=True)
    bot = Bot(
        team_id="T0STANDIN1",
        bot_token=installed["access_token"],
        bot_refresh_token=installed["refresh_token"],
        bot_id="B0STANDIN",
        bot_user_id="U0STANDINBOT",
        bot_token_expires_at=int(time.time()) + 60,
        installed_at=time.time(),
    )
    return installed, bot


@pytest.mark.parametrize(
    "fault",
    [
        {"patch": {"token_type": "user"}},  # stock TokenRotator: None, tokens left live
        {"patch": {"expires_in": "43200"}},  # stock TokenRotator: int() raises ValueError
        {"patch": {"expires_in": 10**30}},  # a date past datetime's range when stored
        {"content_type": "text/html"},
    ],
)
def test_an_unusable_refresh_answer_is_refused_and_its_tokens_revoked(
    standin: SlackStandIn, fault: dict[str, Any]
) -> None:
    _, bot = rotating_bot(standin)
    standin.fail_next("oauth.v2.access", **fault)
    with pytest.raises(UnexpectedAnswer):
        slack_api.token_rotator().perform_bot_token_rotation(bot=bot, minutes_before_expiration=10)
    refreshed = standin.issued[-1]
    for token in (refreshed["access_token"], refreshed["refresh_token"]):
        assert known_token(standin, token)["revoked"] is True


def _tokens(body: dict[str, Any]) -> list[str]:
    user = body.get("authed_user") or {}
    values = [body.get("access_token"), body.get("refresh_token")]
    return [v for v in [*values, user.get("access_token"), user.get("refresh_token")] if v]


def test_every_client_raises_only_slack_api_error_or_ours(standin: SlackStandIn) -> None:
    """The contract at the client level (what TokenRotator and the rotation code see)."""
    clients = [slack_api.single_use_client(), slack_api.idempotent_client()]
    clients.append(slack_api.patient_client())
    faults: list[dict[str, Any]] = [
        {"status": 500}, {"html": True, "status": 503}, {"body": [1]}, {"truncate": 3},
        {"raw": b"\x00", "content_type": "application/json"}, {"drop": True},
        {"huge": MAX_ANSWER_BYTES + 1}, {"redirect": "http://127.0.0.1:9/"}, {"error": "nope"},
    ]  # fmt: skip
    for client in clients:
        for fault in faults:
            standin.fail_next("auth.test", times=2, **fault)
            with pytest.raises((SlackApiError, SlackInstallError)):
                client.auth_test(token="xoxb-standin-fake")
            standin.state.faults.clear()
