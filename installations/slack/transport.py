"""One HTTP attempt to Slack: an overall deadline, a cap on the answer's size, no redirects.

Why not urllib, which slack_sdk's WebClient uses: ``urlopen``'s timeout bounds each socket
operation, not the answer, so an answer that trickles in a byte at a time holds a worker for
ever; it reads a body of any size into memory; and its default opener follows redirects,
sending the request's headers again (``Authorization``: a token, or the client id and secret
as HTTP Basic) to whatever host ``Location`` names. No well-kept library bounds the total time
of a synchronous request either (urllib3's and httpx's timeouts are per operation too), so this
small module drives ``http.client`` itself: every write and read gets what is left of one
deadline, the body is read in pieces and counted, and a 3xx is only a status (``slack_api``
refuses it). It knows nothing of Slack's JSON; ``slack_api`` judges the answer.

Errors: a connection that cannot be made is urllib's ``URLError`` and a connection dropped
before any answer is ``RemoteDisconnected`` / ``ConnectionResetError``, exactly as urllib
raises them, so slack_sdk's retry handlers recognise them. Everything else is ours:
``SlackUnavailable`` with reason ``slack_timeout``, ``slack_answer_too_large``,
``slack_http_error`` (not HTTP), ``slack_unavailable`` (dropped mid-answer) or
``slack_bad_request`` (a header or URL http.client refuses to send).

``Retry-After`` is parsed here too (``parse_retry_after``): bounded, and None when unreadable.

HTTPS through an outbound proxy: like urllib, the ``https_proxy`` / ``no_proxy`` environment
variables are honoured (a CONNECT tunnel); plain http (the local stand-in) always goes direct.

Connections are kept alive and reused, one set per thread (``threading.local``: a connection is
never shared between threads, so no lock): a job checking thousands of workspaces, or a request
thread installing one after another, pays the TCP and TLS handshakes once per host instead of
once per call. A connection goes back to its thread's set only after an answer was read whole,
within its deadline and without ``Connection: close``; every fault (a timeout, a cap, an answer
cut short or not HTTP, a drop) closes it for good. Before reuse, a connection that idled longer
than ``IDLE_SECONDS`` or that the server closed or wrote to meanwhile (readable while idle) is
closed instead. A reused connection that still dies before any answer raises what a fresh one
would (``RemoteDisconnected`` / ``ConnectionResetError``): idempotent calls retry it on a new
connection (slack_sdk's ConnectionErrorRetryHandler); single-use calls (a code or refresh token)
never retry it, so nothing is spent twice. That leaves one race: a server closing an idle
connection just as a request leaves on it (IDLE_SECONDS is far below the usual keep-alive
timeouts of a minute or more); a single-use call then fails as unreachable, and the code or
refresh token it carried was never seen, so the next attempt spends it. Threads that end call
``close_idle_connections()``.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import io
import logging
import math
import select
import socket
import ssl
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from urllib.error import URLError
from urllib.parse import SplitResult, unquote, urlsplit

from django.views.decorators.debug import sensitive_variables

from installations.exceptions import SlackUnavailable
from installations.observability import metrics

logger = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 1024 * 1024  # Slack's OAuth and auth answers are a few hundred bytes
READ_SIZE = 64 * 1024
RETRY_AFTER_CAP_SECONDS = 300
# A kept-alive connection idle longer than this is closed rather than reused: servers close idle
# connections on their own schedule, and one closed just as we write to it fails the call.
IDLE_SECONDS = 4.0
MAX_IDLE_PER_THREAD = 8  # hosts a thread keeps a connection to (Slack and a proxy: 1 or 2)


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of a header, whatever its case (Slack sends lower case)."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


def parse_retry_after(value: object, *, now: float | None = None) -> int | None:
    """``Retry-After`` (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) as whole seconds in
    [0, RETRY_AFTER_CAP_SECONDS]; None when it cannot be read (negative, fractional, "1e9",
    empty, not a date). slack_sdk's own handler int()s it, which raises on all of those."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        digits = text.lstrip("0") or "0"
        return min(int(digits[:7]), RETRY_AFTER_CAP_SECONDS)
    try:
        when = email.utils.parsedate_to_datetime(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0, min(RETRY_AFTER_CAP_SECONDS, math.ceil(seconds)))


def timed_out() -> SlackUnavailable:
    return SlackUnavailable(reason="slack_timeout")


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the deadline for this answer has passed")
    return left


class _DeadlineReader(io.RawIOBase):
    """Reads from a socket, each read given what is left of the deadline."""

    def __init__(self, sock: Any, deadline: float) -> None:
        self._sock, self._deadline = sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(_remaining(self._deadline))
        return int(self._sock.recv_into(buffer))


class _DeadlineSocket:
    """What http.client holds as its socket once connected: writes and reads share one deadline
    (http.client only calls ``sendall``, ``makefile`` and ``close`` on it). ``close`` is left to
    ``send``: http.client closes its socket as soon as an answer says ``Connection: close``,
    counting on socket.makefile's reference count, which this reader does not take."""

    def __init__(self, sock: Any, deadline: float) -> None:
        self._sock, self._deadline = sock, deadline

    def sendall(self, data: Any) -> None:
        self._sock.settimeout(_remaining(self._deadline))
        self._sock.sendall(data)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))

    def close(self) -> None:
        """The real socket is closed by ``send`` once the answer is read."""


def _https_proxy(host: str) -> SplitResult | None:
    """The proxy urllib would use for https://host (environment variables), if any."""
    proxy = urllib.request.getproxies().get("https")
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    return urlsplit(proxy if "://" in proxy else "http://" + proxy)


def _connection(url: SplitResult, timeout: float, context: ssl.SSLContext | None) -> Any:
    """A connection to the URL's host, or to HTTPS_PROXY's; ValueError for a URL without one."""
    host = url.hostname
    if not host:
        raise ValueError("no host in the URL")
    port = url.port or (443 if url.scheme == "https" else 80)
    if url.scheme == "http":
        return http.client.HTTPConnection(host, port, timeout=timeout)
    context = context or ssl.create_default_context()
    proxy = _https_proxy(host)
    if proxy is None:
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    if not proxy.hostname:
        raise ValueError("HTTPS_PROXY names no host")
    connection = http.client.HTTPSConnection(
        proxy.hostname, proxy.port or 8080, timeout=timeout, context=context
    )
    headers = {}
    if proxy.username is not None:
        pair = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}"
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    connection.set_tunnel(host, port, headers=headers)
    return connection


def _read_capped(response: http.client.HTTPResponse, max_bytes: int) -> bytes:
    if response.length is not None and response.length > max_bytes:
        raise SlackUnavailable(reason="slack_answer_too_large")  # said so up front: read nothing
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read1(READ_SIZE):  # one socket read at most, within the deadline
        size += len(chunk)
        if size > max_bytes:
            raise SlackUnavailable(reason="slack_answer_too_large")
        chunks.append(chunk)
    if response.length:  # the connection closed before the Content-Length promised
        raise SlackUnavailable(reason="slack_unavailable")
    return b"".join(chunks)


# --- kept-alive connections, one set per thread ----------------------------------------------


PoolKey = tuple[str, str, int, str, ssl.SSLContext | None]


@dataclass
class _Idle:
    """A connection between two answers: http.client's object and its real socket."""

    connection: Any
    sock: Any
    since: float

    def close(self) -> None:
        self.connection.close()
        self.sock.close()

    def usable(self, now: float) -> bool:
        """Not idle too long, and nothing to read: a closed socket or unasked bytes are both
        readable, and either makes the connection unfit for the next request."""
        if now - self.since > IDLE_SECONDS:
            return False
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):  # closed meanwhile
            return False
        return not readable


class _Pool(threading.local):
    def __init__(self) -> None:
        self.idle: dict[PoolKey, _Idle] = {}


_pool = _Pool()


def _pool_key(url: SplitResult, ssl_context: ssl.SSLContext | None) -> PoolKey:
    """What a reused connection must share with the request: where it goes (the proxy too, as
    the environment says now) and, for https, the very SSL context that verified it."""
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    proxy = _https_proxy(host) if url.scheme == "https" else None
    via = proxy.geturl() if proxy is not None else ""
    return (url.scheme, host, port, via, ssl_context if url.scheme == "https" else None)


def _take_idle(key: PoolKey) -> _Idle | None:
    """This thread's kept-alive connection for ``key`` if it is fit for reuse (closed if not);
    connections to other hosts idle too long are closed on the way."""
    now = time.monotonic()
    for other in [
        k for k, idle in _pool.idle.items() if k != key and idle.since < now - IDLE_SECONDS
    ]:
        _pool.idle.pop(other).close()
    idle = _pool.idle.pop(key, None)
    if idle is not None and not idle.usable(now):
        idle.close()
        return None
    return idle


def _keep_idle(key: PoolKey, connection: Any, sock: Any) -> None:
    if len(_pool.idle) >= MAX_IDLE_PER_THREAD:
        oldest = min(_pool.idle, key=lambda k: _pool.idle[k].since)
        _pool.idle.pop(oldest).close()
    _pool.idle[key] = _Idle(connection, sock, time.monotonic())


def close_idle_connections() -> None:
    """Close this thread's kept-alive connections (a worker thread calls it before it ends)."""
    while _pool.idle:
        _pool.idle.popitem()[1].close()


def idle_connection_count() -> int:
    """This thread's kept-alive connections (for tests and benchmarks)."""
    return len(_pool.idle)


def _connected(
    url: SplitResult, key: PoolKey, deadline: float, context: ssl.SSLContext | None
) -> tuple[Any, Any]:
    """(http.client connection, its real socket) for this request: kept alive, or new."""
    idle = _take_idle(key)
    if idle is not None:
        return idle.connection, idle.sock
    try:
        connection = _connection(url, _remaining(deadline), context)
    except ValueError:  # a port that is not a number, an unsupported scheme
        raise SlackUnavailable(reason="slack_bad_request") from None
    try:
        connection.connect()
    except TimeoutError:
        connection.close()
        raise
    except OSError as exc:  # refused, unreachable, DNS, TLS: as urlopen reports them
        connection.close()
        raise URLError(exc) from None
    # A request can be two writes (http.client sends a body that is not bytes apart): without
    # TCP_NODELAY the second waits for the server's delayed ACK on a kept-alive connection.
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection, connection.sock


@sensitive_variables("request")
def send(
    request: urllib.request.Request,
    *,
    timeout: float,
    max_bytes: int = MAX_ANSWER_BYTES,
    ssl_context: ssl.SSLContext | None = None,
) -> RawAnswer:
    """Send ``request`` once and read the answer, all within ``timeout`` seconds, on this
    thread's kept-alive connection to the host when it has a fit one (module docstring).
    Each call is counted and timed by method and outcome (observability/metrics.py)."""
    started = time.monotonic()
    outcome = "unreachable"
    try:
        answer = _exchange(request, timeout=timeout, max_bytes=max_bytes, ssl_context=ssl_context)
        outcome = http_outcome(answer.status)
        return answer
    except SlackUnavailable as exc:
        outcome = "timeout" if exc.reason == "slack_timeout" else "unreachable"
        raise
    finally:
        metrics.slack_call(request.full_url, outcome, time.monotonic() - started)


def http_outcome(status: int) -> str:
    """An HTTP status as a metric outcome: ok, rate_limited or http_error."""
    if 200 <= status < 300:
        return "ok"
    return "rate_limited" if status == 429 else "http_error"


@sensitive_variables("request", "headers", "body")
def _exchange(
    request: urllib.request.Request,
    *,
    timeout: float,
    max_bytes: int,
    ssl_context: ssl.SSLContext | None,
) -> RawAnswer:
    """One request and its whole answer, as ``send`` describes."""
    deadline = time.monotonic() + timeout
    url = urlsplit(request.full_url)
    try:
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError("not an http(s) URL")
        key = _pool_key(url, ssl_context)
    except ValueError:  # a port that is not a number, an unsupported scheme
        raise SlackUnavailable(reason="slack_bad_request") from None
    connection: Any = None
    sock: Any = None
    reusable = False
    try:
        connection, sock = _connected(url, key, deadline, ssl_context)
        connection.sock = _DeadlineSocket(sock, deadline)
        target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        headers = dict(request.header_items())
        try:
            connection.request(request.get_method(), target, body=request.data, headers=headers)
        except ValueError:  # http.client refuses a header or path holding a line break
            raise SlackUnavailable(reason="slack_bad_request") from None
        response = connection.getresponse()
        body = _read_capped(response, max_bytes)
        # Every byte promised was read (Content-Length counted down, or the last chunk): the
        # connection is at the start of the next answer and may carry the next request.
        reusable = not response.will_close and (response.isclosed() or response.length == 0)
        response.close()  # http.client sends no new request while this one is open
        return RawAnswer(response.status, tuple(response.getheaders()), body)
    except TimeoutError:
        raise timed_out() from None
    except http.client.RemoteDisconnected:
        raise  # no answer at all: slack_sdk's ConnectionErrorRetryHandler knows this one
    except http.client.IncompleteRead:
        raise SlackUnavailable(reason="slack_unavailable") from None
    except http.client.HTTPException as exc:  # not HTTP: a bad status line, endless headers
        logger.warning("slack answered something that is not HTTP: %s", type(exc).__name__)
        raise SlackUnavailable(reason="slack_http_error") from None
    finally:
        if reusable:  # read whole, in time, and the server keeps it open: the next call's
            connection.sock = sock
            _keep_idle(key, connection, sock)
        elif connection is not None:  # anything else, a fault above all: never reused
            connection.close()
            if sock is not None:
                sock.close()
