"""``KeptAliveWebClient``: slack_sdk's WebClient for the developer's listeners, on kept-alive
connections, with slack_sdk's public behaviour otherwise unchanged.

Why: Bolt gives every request a new plain ``WebClient`` (``App._init_context``), and slack_sdk's
``urlopen`` opens a new connection for every API call: a TCP (and against slack.com a TLS)
handshake per ``say``. Our transport (``transport.py``) keeps one connection per thread and host
alive, safely (a fault closes it; an idle or readable one is not reused). This client sends its
calls over it; ``bolt/request_url.py`` hands it to the developer's listeners.

The one override, the narrowest that does it (slack_sdk 3.48, ``web/base_client.py``):
``_perform_urllib_http_request_internal``, one attempt, where ``urlopen`` is replaced by
``transport.send``. Everything around it is slack_sdk's own: building the request (form, JSON,
multipart), the retry loop and its handlers, SlackResponse and SlackApiError for ``ok: false``.
The attempt answers and fails as ``urlopen`` does, so that loop and the developer see the same
things: a 2xx is ``{status, headers, body}`` with the headers an ``HTTPMessage`` (case-blind
``Retry-After`` and rate-limit headers) and the body text decoded by its charset (bytes for
``application/gzip``); any other status is urllib's ``HTTPError`` (slack_sdk turns it into a
response, a 429 into a RateLimitErrorRetryHandler retry); a connection that cannot be made is
``URLError``, one dropped before an answer ``RemoteDisconnected`` / ``ConnectionResetError``
(ConnectionErrorRetryHandler retries those, on a new connection), a read past the deadline
``TimeoutError``, an answer cut short ``IncompleteRead``, one that is not HTTP an
``HTTPException``. Nothing here ever logs or raises with a token in it.

Differences, on purpose:
- The client's ``timeout`` bounds the whole answer, as a deadline (urllib's bounds each socket
  read, so an answer trickling in holds the worker for ever). ``admin.analytics.getFile``, a
  file download that may rightly take longer, keeps slack_sdk's own path.
- A 3xx is not followed (urllib would send the token again to whatever host ``Location``
  names): it is an ``HTTPError``, and so a SlackApiError. Slack's Web API does not redirect.
- No cap on the answer's size, unlike our own calls (``transport.MAX_ANSWER_BYTES``, 1 MiB, for
  OAuth and auth answers of a few hundred bytes): a developer's ``conversations.history`` or
  ``users.list`` page, sized by the ``limit`` they ask for, is rightly larger, and slack_sdk has
  no cap either. The deadline still bounds how long an answer can keep coming.
- At DEBUG, slack_sdk logs each answer's body; this client logs its status and headers only
  (an answer may carry a token: ``oauth.v2.access``, ``apps.connections.open``).
Settings that the transport cannot honour fall back to slack_sdk's own path for the call: a
``proxy`` (set, or read by slack_sdk from HTTPS_PROXY / HTTP_PROXY) and a ``timeout`` of None.
"""

from __future__ import annotations

import functools
import http.client
import io
import logging
import sys
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request

from django.views.decorators.debug import sensitive_variables
from slack_sdk import WebClient

from installations.exceptions import SlackUnavailable
from installations.slack import transport

NO_SIZE_CAP = sys.maxsize  # module docstring: the developer's answers are not ours to cap
# Methods that answer with a file: slack_sdk's urllib path, its per-read timeout (docstring).
SDK_PATH_METHODS = frozenset({"admin.analytics.getFile"})


def _message(pairs: Iterable[tuple[str, str]]) -> http.client.HTTPMessage:
    """The answer's headers as urllib hands them over: case-blind, every value kept."""
    message = http.client.HTTPMessage()
    for name, value in pairs:
        message[name] = value  # appends: a repeated header keeps each value, as parsed
    return message


@functools.lru_cache(maxsize=64)
def _body_kind(content_type: str | None) -> tuple[bool, str]:
    """(a gzip file?, the charset) of a Content-Type value, read by the email parser as urllib's
    answer reads them; cached: parsing the parameters costs more than the rest of an answer."""
    message = http.client.HTTPMessage()
    if content_type is not None:
        message["Content-Type"] = content_type
    return (
        message.get_content_type() == "application/gzip",
        message.get_content_charset() or "utf-8",
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _as_urllib_error(fault: SlackUnavailable) -> Exception:
    """What urllib raises where the transport reports one of its faults (module docstring)."""
    if fault.reason == "slack_timeout":
        return TimeoutError("the answer did not arrive within the client's timeout")
    if fault.reason in ("slack_unavailable", "slack_answer_too_large"):
        return http.client.IncompleteRead(b"")
    if fault.reason == "slack_http_error":
        return http.client.HTTPException("the answer is not HTTP")
    if fault.reason == "slack_bad_request":
        return ValueError("a header or the URL cannot be sent")
    return URLError(fault.reason)


class KeptAliveWebClient(WebClient):
    """slack_sdk's WebClient whose calls go over ``transport``'s kept-alive connections."""

    def _uses_sdk_path(self, url: str) -> bool:
        """Settings the transport cannot honour: slack_sdk's own urllib path for this call."""
        proxy = self.proxy  # a str; anything else gets slack_sdk's own error
        has_proxy = proxy is not None and (not isinstance(proxy, str) or bool(proxy.strip()))
        parts = urlsplit(url)
        return (
            has_proxy
            or self.timeout is None
            or parts.scheme not in ("http", "https")
            or parts.path.rsplit("/", 1)[-1] in SDK_PATH_METHODS
        )

    @sensitive_variables("req")
    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        if self._uses_sdk_path(url):
            answer: dict[str, Any] = super()._perform_urllib_http_request_internal(url, req)
            return answer
        try:
            raw = transport.send(
                req, timeout=float(self.timeout), max_bytes=NO_SIZE_CAP, ssl_context=self.ssl
            )
        except SlackUnavailable as fault:
            raise _as_urllib_error(fault) from None
        except (URLError, ConnectionResetError):
            raise  # as urlopen raises them; ConnectionErrorRetryHandler retries both
        except OSError as exc:  # a broken pipe writing the request: urlopen wraps those
            raise URLError(exc) from None
        headers = _message(raw.headers)
        if not 200 <= raw.status < 300:
            # urllib's HTTPErrorProcessor: slack_sdk reads code, headers and body from it
            raise HTTPError(url, raw.status, _phrase(raw.status), headers, io.BytesIO(raw.body))
        gzip, charset = _body_kind(headers.get("Content-Type"))
        body = raw.body if gzip else raw.body.decode(charset)  # gzip: admin.analytics.getFile
        # slack_sdk's line, without the body (tokens); formatted only when it will be written
        if self._logger.isEnabledFor(logging.DEBUG):
            self._logger.debug(
                "Received the following response - "
                f"status: {raw.status}, headers: {dict(headers)}, body: (not logged)"
            )
        return {"status": raw.status, "headers": headers, "body": body}


def kept_alive_twin(client: WebClient) -> KeptAliveWebClient:
    """A ``KeptAliveWebClient`` with every attribute of ``client`` (token, base_url, timeout,
    ssl, proxy, headers, team_id, logger, retry handlers, and whatever a later slack_sdk adds),
    shared as a shallow copy shares them. The subclass adds no state of its own."""
    twin = KeptAliveWebClient.__new__(KeptAliveWebClient)
    twin.__dict__.update(vars(client))
    return twin
