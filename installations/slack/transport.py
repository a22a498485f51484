"""One HTTP attempt to Slack: an overall deadline, a cap on the answer's size, no redirects.

urllib's ``urlopen`` (slack_sdk's default) bounds each socket operation, not the answer, reads
any size, and follows redirects with the ``Authorization`` header. So this module drives
``http.client`` itself: one deadline for every write and read, the body counted, a 3xx only a
status, and a connection per call, so no late answer is read by another call. ``https_proxy`` /
``no_proxy`` are honoured as urllib does; plain http always goes direct.

A connection that cannot be made is ``URLError``, one dropped before any answer
``RemoteDisconnected`` / ``ConnectionResetError``, as slack_sdk's retry handlers expect; anything
else is ``SlackUnavailable``.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import io
import logging
import math
import ssl
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
    """``Retry-After`` (delay-seconds or an HTTP-date) as whole seconds in
    [0, RETRY_AFTER_CAP_SECONDS]; None when it cannot be read."""
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
    """What http.client holds as its socket once connected: writes and reads share one deadline.
    ``close`` is left to ``send``, since this reader takes no makefile reference count."""

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


@sensitive_variables("request")
def send(
    request: urllib.request.Request,
    *,
    timeout: float,
    max_bytes: int = MAX_ANSWER_BYTES,
    ssl_context: ssl.SSLContext | None = None,
) -> RawAnswer:
    """Send ``request`` once and read the answer, all within ``timeout`` seconds, on a
    connection of its own. Each call is counted and timed by method and outcome (metrics)."""
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
        connection = _connection(url, _remaining(deadline), ssl_context)
    except ValueError:  # a port that is not a number, an unsupported scheme
        raise SlackUnavailable(reason="slack_bad_request") from None
    sock: Any = None
    try:
        try:
            connection.connect()
        except TimeoutError:
            raise
        except OSError as exc:  # refused, unreachable, DNS, TLS: as urlopen reports them
            raise URLError(exc) from None
        sock = connection.sock
        connection.sock = _DeadlineSocket(sock, deadline)
        target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        headers = {**dict(request.header_items()), "Connection": "close"}
        try:
            connection.request(request.get_method(), target, body=request.data, headers=headers)
        except ValueError:  # http.client refuses a header or path holding a line break
            raise SlackUnavailable(reason="slack_bad_request") from None
        response = connection.getresponse()
        body = _read_capped(response, max_bytes)
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
        connection.close()
        if sock is not None:
            sock.close()
