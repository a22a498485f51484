"""``SlackWebClient``: a slack_sdk WebClient whose every call goes through our transport and
comes back checked, and the retry handlers it runs.

slack_sdk's own WebClient sends with ``urlopen``: a timeout per socket operation rather than
per answer, no cap on the answer's size, and redirects followed with the request's
credentials. So ``api_call`` (the public method every ``client.<method>()`` and slack_sdk's
TokenRotator call) is ours, on public slack_sdk API only:
- it builds the request as slack_sdk does (a form body, or JSON when ``json`` is given;
  ``Authorization: Bearer`` from the token, or HTTP Basic from ``auth``; the client's headers
  and user agent) and sends it with ``slack_transport.send`` (deadline, size cap, no redirects);
- it runs the client's ``retry_handlers`` (slack_sdk's ``RetryHandler`` protocol: ``can_retry``
  then ``prepare_for_next_attempt`` on a ``RetryState``) after each connection error or answer;
  a fault the transport or the answer check raised is never retried;
- the answer must be a JSON object (``slack_answers.parse_json_object``); it becomes a
  ``SlackResponse(...).validate()``, then is checked for that method
  (``slack_answers.validate_answer``, keyed on the method and grant_type, so TokenRotator reads
  only checked refresh answers); credentials in an unusable answer are salvaged and revoked or
  handed on; anything else that goes wrong becomes our error family.
What a call raises is listed in ``slack_api``'s docstring.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from base64 import b64encode
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from http.client import HTTPException
from typing import Any
from urllib.error import URLError
from urllib.parse import urlencode
from urllib.request import Request

from django.views.decorators.debug import sensitive_variables
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.request import HttpRequest as RetryRequest
from slack_sdk.http_retry.response import HttpResponse as RetryResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.token_rotation import TokenRotator
from slack_sdk.web import SlackResponse

from installations.exceptions import (
    SlackInstallError,
    SlackUnavailable,
    UnexpectedAnswer,
)
from installations.slack import answers as slack_answers
from installations.slack import transport as slack_transport

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 100  # a bound on the retry loop, whatever the handlers say (slack_sdk's own)
Revoker = Callable[[Iterable[str], str], object]
# Methods whose answers issue tokens: an unusable answer's tokens are revoked or handed on.
ISSUING_METHODS = frozenset({"oauth.v2.access", "openid.connect.token"})


class SpentRefreshAnswer(UnexpectedAnswer):
    """A token refresh answered with new tokens, in an answer we cannot use: the client revoked
    them, and the refresh token sent is spent (docs/slack-protocol.md §4), so only a reinstall
    brings the token back. An unusable answer that carried no token says nothing about it."""

    reason = "unusable_refresh_answer"


class _UnusableBody(UnexpectedAnswer):
    """A 2xx answer that is not a JSON object; api_call looks inside it for credentials."""

    def __init__(self, body: bytes, content_type: str | None) -> None:
        self.body, self.content_type = body, content_type
        super().__init__()


def header(headers: Mapping[str, Any], name: str) -> Any:
    """Case-insensitive header lookup (SlackResponse.headers keeps the server's casing)."""
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return value[0] if isinstance(value, list) and value else value
    return None


def _answer_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The first value of each header; Retry-After bounded, or dropped when unreadable
    (slack_sdk's RateLimitErrorRetryHandler int()s it: "abc" raises, "86400" sleeps a day)."""
    headers: dict[str, str] = {}
    for name, value in pairs:
        headers.setdefault(name, value)
    for name in [n for n in headers if n.lower() == "retry-after"]:
        seconds = slack_transport.parse_retry_after(headers[name])
        if seconds is None:
            del headers[name]
        else:
            headers[name] = str(seconds)
    return headers


def _answer_data(answer: slack_transport.RawAnswer) -> dict[str, Any]:
    """One attempt's answer as a JSON object, or the fault it amounts to."""
    if 300 <= answer.status < 400:
        logger.warning("slack answered HTTP %s (a redirect): not followed", answer.status)
        raise SlackUnavailable(reason="slack_redirect")
    content_type = answer.header("Content-Type")
    try:
        return slack_answers.parse_json_object(answer.body, content_type)
    except UnexpectedAnswer:
        kind = (content_type or "no content type").split(";")[0][:64]
        logger.warning("slack answered HTTP %s, not a JSON object (%s)", answer.status, kind)
        if answer.status == 429:
            return {"ok": False, "error": "ratelimited"}  # still a rate limit, for the handlers
        if 200 <= answer.status < 300:
            raise _UnusableBody(answer.body, content_type) from None
        raise SlackUnavailable(reason="slack_http_error") from None


def _form_value(value: Any) -> Any:
    """True / False as Slack's "1" / "0" (slack_sdk does the same)."""
    return ("1" if value else "0") if isinstance(value, bool) else value


def _grant_type(*parts: Mapping[str, Any] | None) -> str | None:
    for values in parts:
        if isinstance(values, Mapping) and isinstance(values.get("grant_type"), str):
            return str(values["grant_type"])
    return None


class SlackWebClient(WebClient):
    """A WebClient over ``slack_transport``, every answer checked (module docstring).

    ``revoke`` revokes tokens an unusable refresh or ``openid.connect.token`` answer carried
    (``slack_api.revoke_all``).
    """

    def __init__(self, *, revoke: Revoker, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._revoke = revoke
        self._expecting = threading.local()

    @contextmanager
    def expecting_token_type(self, token_type: str) -> Iterator[None]:
        """Refresh answers in this block must be for this token type ("bot" or "user")."""
        previous = getattr(self._expecting, "token_type", None)
        self._expecting.token_type = token_type
        try:
            yield
        finally:
            self._expecting.token_type = previous

    @sensitive_variables("data", "params", "json", "headers", "auth", "request", "response")
    def api_call(
        self,
        api_method: str,
        *,
        http_verb: str = "POST",
        files: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
        auth: dict[str, Any] | None = None,
    ) -> SlackResponse:
        """One Web API call (every verb is sent as POST, as slack_sdk does); see the module."""
        grant_type = _grant_type(data, params)
        if files:
            logger.warning("slack %s: file uploads are not supported here", api_method)
            raise SlackUnavailable(reason="slack_bad_request")
        request = self._build_request(api_method, params, data, json, headers, auth)
        try:
            status, answer_headers, answer = self._send_attempts(request)
            response = SlackResponse(
                client=self,
                http_verb="POST",
                api_url=request.full_url,
                req_args={"params": {**(params or {}), **(data or {})}},
                data=answer,
                headers=answer_headers,
                status_code=status,
            )
            response.validate()  # type: ignore[no-untyped-call]
        except _UnusableBody as exc:
            issued = slack_answers.salvage_credentials(exc.body, exc.content_type)
            raise self._unusable(api_method, grant_type, issued) from None
        except SlackApiError as exc:
            raise self._refused(api_method, grant_type, exc) from None
        except SlackInstallError:
            raise
        except (OSError, HTTPException) as exc:  # refused, reset, DNS, TLS (URLError included)
            logger.warning("slack %s unreachable: %s", api_method, type(exc).__name__)
            raise SlackUnavailable() from None
        expected = getattr(self._expecting, "token_type", None)
        try:
            slack_answers.validate_answer(
                api_method, response.data, grant_type=grant_type, expected_token_type=expected
            )
        except UnexpectedAnswer:
            issued = slack_answers.issued_credentials(response.data)
            raise self._unusable(api_method, grant_type, issued) from None
        return response

    @sensitive_variables("params", "data", "body", "headers", "auth", "token", "basic")
    def _build_request(
        self,
        api_method: str,
        params: dict[str, Any] | None,
        data: dict[str, Any] | None,
        body: dict[str, Any] | None,
        headers: dict[str, Any] | None,
        auth: dict[str, Any] | None,
    ) -> Request:
        """The POST slack_sdk would send: a JSON ``body``, or ``params`` and ``data`` as one
        form (None values dropped, True / False as "1" / "0"); a ``token`` in the params or
        JSON moved to a Bearer header (the client's token otherwise; HTTP Basic instead when
        ``auth`` holds client_id / client_secret); the client's default fields (team_id)."""
        if body is not None:
            values = dict(body)  # JSON keeps its types
            token = values.pop("token", None)
        else:
            values = {k: v for k, v in (params or {}).items() if v is not None}
            token = values.pop("token", None)
            values.update({k: v for k, v in (data or {}).items() if v is not None})
            values = {k: _form_value(v) for k, v in values.items()}
        token = token or self.token
        if not (params is None and data is None and body is None):
            for name, value in self.default_params.items():
                values.setdefault(name, value)
        final = {"Content-Type": "application/x-www-form-urlencoded", **self.headers}
        if token:
            final["Authorization"] = f"Bearer {token}"
        final.update(headers or {})
        if auth is not None:
            basic = f"{auth.get('client_id')}:{auth.get('client_secret')}".encode()
            final["Authorization"] = f"Basic {b64encode(basic).decode('ascii')}"
        if body is not None:
            final["Content-Type"] = "application/json;charset=utf-8"
            payload = json.dumps(values).encode()
        else:
            payload = urlencode(values).encode()
        url = self.base_url + api_method
        # S310: never opened by urllib; the transport sends http(s) only.
        return Request(url, data=payload, headers=final, method="POST")  # noqa: S310

    @sensitive_variables("request", "answer", "data", "response")
    def _send_attempts(self, request: Request) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Send ``request`` through the transport until an answer is final for the retry
        handlers: its status, headers and JSON object. A connection error the handlers do not
        retry is raised as is; the transport's faults and unusable answers at once."""
        state = RetryState()
        retry_request = RetryRequest.from_urllib_http_request(request)
        for _ in range(MAX_ATTEMPTS):
            state.next_attempt_requested = False
            try:
                answer = slack_transport.send(
                    request, timeout=float(self.timeout), ssl_context=self.ssl
                )
            except SlackInstallError:
                raise
            except (OSError, HTTPException) as error:
                if not self._retry(state, retry_request, error=error):
                    raise
                continue
            data = _answer_data(answer)
            headers = _answer_headers(answer.headers)
            response = RetryResponse(
                status_code=answer.status, headers={**headers}, body=data, data=answer.body
            )
            if not self._retry(state, retry_request, response=response):
                return answer.status, headers, data
        raise SlackUnavailable()

    def _retry(
        self,
        state: RetryState,
        request: RetryRequest,
        *,
        response: RetryResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        """Whether a handler asked for another attempt (and prepared it: it may sleep)."""
        for handler in self.retry_handlers:
            if handler.can_retry(state=state, request=request, response=response, error=error):
                handler.prepare_for_next_attempt(
                    state=state, request=request, response=response, error=error
                )
                break
        return state.next_attempt_requested

    def _refused(self, method: str, grant_type: str | None, exc: SlackApiError) -> Exception:
        response = exc.response
        code = slack_answers.refusal_code(response.data)
        if code is None and response.status_code == 429:
            code = "ratelimited"  # a rate limit whatever the body says
        if code is not None:
            response.data["error"] = code  # every reader of the error sees a safe code
            return exc
        issued = slack_answers.issued_credentials(response.data)
        status = response.status_code
        if status != 200 and not issued.tokens:
            logger.warning("slack %s answered HTTP %s without an error code", method, status)
            return SlackUnavailable(reason="slack_http_error")
        logger.warning("slack %s answered HTTP %s, neither ok nor an error", method, status)
        return self._unusable(method, grant_type, issued)

    def _unusable(
        self, method: str, grant_type: str | None, issued: slack_answers.IssuedCredentials
    ) -> UnexpectedAnswer:
        """The error for an unusable answer of ``method``; the tokens it carried are handed to
        the install flow (which keeps a reinstall's live tokens) or revoked here."""
        if method not in ISSUING_METHODS or not issued.tokens:
            return UnexpectedAnswer()
        if method == "oauth.v2.access" and grant_type != "refresh_token":
            return slack_answers.UnusableInstallAnswer(issued)
        # TokenRotator's callers and the sign-in never see these tokens: revoked here, or they
        # stay live.
        refresh = method == "oauth.v2.access"
        kind = "refresh" if refresh else "sign-in"
        self._revoke(issued.tokens, f"{kind} team={issued.team_id or '-'}")
        return SpentRefreshAnswer() if refresh else UnexpectedAnswer()


class RefusedConnectionRetryHandler(RetryHandler):
    """Retry once when the connection was refused: the request never reached Slack."""

    def can_retry(
        self,
        *,
        state: RetryState,
        request: RetryRequest,
        response: RetryResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        reason = error.reason if isinstance(error, URLError) else error
        refused = isinstance(reason, ConnectionRefusedError)
        return refused and state.current_attempt < self.max_retry_count


class RateLimitRetryHandler(RetryHandler):
    """Wait out a 429 and retry, when Slack asks for at most ``max_wait_seconds``.

    A 429 means Slack did not act on the request, so even a single-use code may be sent again.
    Without a readable Retry-After: ``default_seconds`` (None: give up at once). A longer wait
    gives up, unless ``insist``: then it waits ``max_wait_seconds`` and tries once more anyway.
    """

    def __init__(
        self,
        *,
        max_wait_seconds: int,
        default_seconds: int | None,
        max_retry_count: int = 1,
        insist: bool = False,
    ) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_seconds = max_wait_seconds
        self.default_seconds = default_seconds
        self.insist = insist

    def _wait(self, response: RetryResponse | None) -> int | None:
        if response is None or response.status_code != 429:
            return None
        seconds = slack_transport.parse_retry_after(header(response.headers, "Retry-After"))
        seconds = self.default_seconds if seconds is None else seconds
        if seconds is not None and seconds > self.max_wait_seconds:
            return self.max_wait_seconds if self.insist else None
        return seconds

    def can_retry(
        self,
        *,
        state: RetryState,
        request: RetryRequest,
        response: RetryResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        waits = self._wait(response) is not None
        return waits and state.current_attempt < self.max_retry_count

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: RetryRequest,
        response: RetryResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        wait = self._wait(response) or 0
        state.next_attempt_requested = True
        state.increment_current_attempt()
        time.sleep(wait)


class CheckedTokenRotator(TokenRotator):
    """slack_sdk's rotator, telling the client which token type each refresh must answer for:
    the stock one returns None on a mismatch, leaving the refreshed tokens live and unstored."""

    client: SlackWebClient

    def perform_bot_token_rotation(
        self, *, bot: Bot, minutes_before_expiration: int = 120
    ) -> Bot | None:
        with self.client.expecting_token_type("bot"):
            return super().perform_bot_token_rotation(
                bot=bot, minutes_before_expiration=minutes_before_expiration
            )

    def perform_user_token_rotation(
        self, *, installation: Installation, minutes_before_expiration: int = 120
    ) -> Installation | None:
        with self.client.expecting_token_type("user"):
            return super().perform_user_token_rotation(
                installation=installation, minutes_before_expiration=minutes_before_expiration
            )
