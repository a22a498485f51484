"""HTTP plumbing: parse each request, record API calls, apply queued faults, route.

Quiet by design: no request log lines (URLs and bodies carry codes and tokens).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import select
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from . import authorize, faults, messaging, pages
from .methods import Answer, dispatch
from .state import Call

if TYPE_CHECKING:
    from .server import SlackStandIn

logger = logging.getLogger(__name__)


def parse_params(query: str, body: bytes, content_type: str) -> dict[str, str]:
    """Query string plus form or JSON body, as strings (Slack accepts either body type)."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    if "application/json" in content_type:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            data = {}
        if isinstance(data, dict):
            params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()})
    elif body:
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def parse_basic(header: str) -> tuple[str, str] | None:
    """RFC 7617 Basic credentials, or None when the header is absent or not Basic."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def bearer(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


class Handler(BaseHTTPRequestHandler):
    server_version = "SlackStandIn/1.0"
    # Keep-alive, as slack.com: every answer carries Content-Length, or closes (drop, huge).
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle kept-alive connection is closed after this many seconds
    # Headers and body are two writes: with Nagle's algorithm on a kept-alive connection the body
    # waits for the client's delayed ACK of the headers (40 ms on Linux) on every answer.
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return self.server_version

    @property
    def standin(self) -> SlackStandIn:
        standin: SlackStandIn = self.server.standin  # type: ignore[attr-defined]
        return standin

    def setup(self) -> None:
        super().setup()
        with self.standin.state.lock:
            self.standin.state.connections += 1

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's per-request stderr lines."""

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _route(self, verb: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        if parts.path.startswith("/api/"):
            self._api(verb, parts.path, parts.query, body)
        elif parts.path == "/oauth/v2/authorize":
            if verb == "GET":
                self._authorize_page(parts.query)
            else:
                self._decide(body)
        elif parts.path.startswith("/openid/connect/"):
            self._oidc(verb, parts.path, parts.query, body)
        elif parts.path == "/" and verb == "GET":
            note = dict(parse_qsl(parts.query)).get("note", "")
            self._html(200, self.standin.index_html(note))
        elif parts.path == "/uninstall" and verb == "POST":
            self._uninstall(body)
        elif parts.path.startswith("/response/") and verb == "POST":
            self._response_url(parts.path[len("/response/") :], body)
        elif parts.path in ("/mention", "/command") and verb == "POST":
            self._deliver_form(parts.path, body)
        else:
            self._send(404, b"not found", {"Content-Type": "text/plain"})

    def _api(self, verb: str, path: str, query: str, body: bytes) -> None:
        state = self.standin.state
        with state.lock:
            state.in_flight += 1
        try:
            self._answer_api(verb, path, query, body)
        finally:
            with state.lock:
                state.in_flight -= 1

    def _answer_api(self, verb: str, path: str, query: str, body: bytes) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        params = parse_params(query, body, headers.get("content-type", ""))
        auth = headers.get("authorization", "")
        call = Call(
            method=path[len("/api/") :],
            http_method=verb,
            path=path,
            headers=headers,
            params=params,
            token=bearer(auth) or params.get("token") or None,
            basic_auth=parse_basic(auth),
        )
        standin = self.standin
        standin.state.record(call)
        fault = standin.state.take_fault(call.method)
        if fault is not None and fault.drop:
            self.close_connection = True  # read, then hang up without a status line
            return
        answer: Answer | None = None
        issued = False
        if fault is not None and fault.replaces_answer:
            wire = faults.replacement(fault)
        else:
            answer = dispatch(
                standin.state,
                call,
                client_id=standin.client_id,
                client_secret=standin.client_secret,
            )
            issued = any(body is answer.body for body in standin.issued)
            wire = faults.delivery(answer, fault, issued=issued)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)  # after the work is done: a timed-out client still spent it
            wire.lost = wire.lost or (answer is not None and issued and self._client_gone())
        if wire.lost and answer is not None:
            with standin.state.lock:
                standin.state.lost.append(answer.body)
        if fault is not None and fault.huge:
            self._stream(wire, fault.huge)
        elif fault is not None and fault.trickle:
            delivered = self._trickle(wire, fault.trickle)
            if delivered and answer is not None and not (fault.truncate or fault.patch):
                with standin.state.lock:  # every byte arrived after all: nothing was lost
                    standin.state.lost[:] = [b for b in standin.state.lost if b is not answer.body]
        else:
            self._send(wire.status, wire.payload, wire.headers)

    def _client_gone(self) -> bool:
        """Whether the client hung up while we slept (its deadline passed)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _stream(self, wire: faults.Wire, size: int) -> None:
        """A JSON object of ``size`` bytes without Content-Length: only counting can stop it."""
        head, tail = b'{"ok":true,"padding":"', b'"}'
        chunk = b"x" * 65536
        try:
            self.send_response(wire.status)
            for name, value in wire.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(head)
            left = max(0, size - len(head) - len(tail))
            while left > 0:
                self.wfile.write(chunk[:left])
                left -= len(chunk)
            self.wfile.write(tail)
        except (BrokenPipeError, ConnectionResetError):
            logger.debug("client stopped reading a huge answer")
        self.close_connection = True

    def _trickle(self, wire: faults.Wire, interval: float) -> bool:
        """Headers at once, then the body one byte every ``interval`` seconds; True if all
        of it was written."""
        try:
            self.send_response(wire.status)
            for name, value in wire.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(wire.payload)))
            self.end_headers()
            for index in range(len(wire.payload)):
                time.sleep(interval)
                self.wfile.write(wire.payload[index : index + 1])
        except (BrokenPipeError, ConnectionResetError):
            logger.debug("client stopped reading a trickled answer")
            self.close_connection = True
            return False
        return True

    def _authorize_page(self, query: str) -> None:
        params = authorize.query_params(query)
        try:
            authorize.check(params, self.standin.client_id)
        except authorize.AuthorizeError as exc:
            self._html(400, pages.error_page(exc.code))
            return
        self._html(200, pages.authorize_page(params, query, self.standin.form_key))

    def _decide(self, body: bytes) -> None:
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if form.get("form_key") != self.standin.form_key:
            self._html(400, pages.error_page("invalid_form"))
            return
        params = authorize.query_params(form.get("q", ""))
        target = form.get("target", "workspace")
        choices = authorize.Choices(
            org_wide=target == "org",
            webhook_channel=form.get("channel") or "#general",
            rotation=bool(form.get("rotation")),
            team_id=form.get("team_id") or None,
            enterprise_id=(form.get("enterprise_id") or None) if target != "workspace" else None,
        )
        client_id = self.standin.client_id
        try:
            if form.get("decision") == "allow":
                location = authorize.approve(self.standin.state, params, client_id, choices)
            else:
                location = authorize.cancel(params, client_id)
        except authorize.AuthorizeError as exc:
            self._html(400, pages.error_page(exc.code))
            return
        self._send(302, b"", {"Location": location})

    def _oidc(self, verb: str, path: str, query: str, body: bytes) -> None:
        """Sign in with Slack's pages and key set (slackstandin/oidc.py)."""
        from . import oidc, oidc_pages

        standin = self.standin
        if path == "/openid/connect/keys" and verb == "GET":
            keys = oidc.oidc_state(standin.state)
            with standin.state.lock:
                keys.jwks_fetches += 1
            payload = json.dumps(keys.jwks()).encode()
            self._send(200, payload, {"Content-Type": "application/json; charset=utf-8"})
            return
        if path != "/openid/connect/authorize":
            self._send(404, b"not found", {"Content-Type": "text/plain"})
            return
        if verb == "GET":
            params = authorize.query_params(query)
            try:
                oidc.check(params, standin.client_id)
            except authorize.AuthorizeError as exc:
                self._html(400, pages.error_page(exc.code))
                return
            self._html(200, oidc_pages.authorize_page(params, query, standin.form_key))
            return
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if form.get("form_key") != standin.form_key:
            self._html(400, pages.error_page("invalid_form"))
            return
        params = authorize.query_params(form.get("q", ""))
        try:
            if form.get("decision") == "allow":
                location = oidc.approve(
                    standin.state,
                    params,
                    standin.client_id,
                    user_id=form.get("other_user_id") or form.get("user_id") or oidc.USERS[0][0],
                    team_id=form.get("team_id") or None,
                    enterprise_id=form.get("enterprise_id") or None,
                    email=form.get("email") or None,
                )
            else:
                location = oidc.cancel(params, standin.client_id)
        except authorize.AuthorizeError as exc:
            self._html(400, pages.error_page(exc.code))
            return
        self._send(302, b"", {"Location": location})

    def _uninstall(self, body: bytes) -> None:
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if form.get("form_key") != self.standin.form_key:
            self._html(400, pages.error_page("invalid_form"))
            return
        team_id = form.get("team_id") or None
        enterprise_id = form.get("enterprise_id") or None
        try:
            status, _ = self.standin.uninstall(team_id, enterprise_id)
            note = f"app_uninstalled sent: HTTP {status}" if status else "tokens revoked"
        except OSError as exc:
            note = f"tokens revoked; events_url unreachable ({type(exc).__name__})"
        self._send(303, b"", {"Location": "/?" + urlencode({"note": note})})

    def _response_url(self, response_id: str, body: bytes) -> None:
        """Bolt's respond(): a JSON body POSTed to the response_url of a slash command."""
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            self._send(400, b"invalid_payload", {"Content-Type": "text/plain"})
            return
        known = messaging.receive_response(self.standin.state.outbox, response_id, payload)
        status, text = (200, b"ok") if known else (404, b"no_such_response_url")
        self._send(status, text, {"Content-Type": "text/plain"})

    def _deliver_form(self, path: str, body: bytes) -> None:
        """The page's "mention the app" / "run /hello" buttons (the latest workspace install)."""
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if form.get("form_key") != self.standin.form_key:
            self._html(400, pages.error_page("invalid_form"))
            return
        team_id = form.get("team_id") or None
        text = form.get("text", "")
        try:
            if path == "/mention":
                status, _ = self.standin.send_mention(text, team_id=team_id)
                note = f"app_mention sent: HTTP {status}"
            else:
                status, _ = self.standin.send_command("/hello", text, team_id=team_id)
                note = f"/hello sent: HTTP {status}"
        except (OSError, ValueError) as exc:
            note = f"not delivered ({type(exc).__name__})"
        self._send(303, b"", {"Location": "/?" + urlencode({"note": note})})

    def _html(self, status: int, html: str) -> None:
        headers = {
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
            "form-action 'self' http: https:",
        }
        self._send(status, html.encode(), headers)

    def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            logger.debug("client went away before the answer")
