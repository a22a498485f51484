"""What tests (and the demo page) do to the stand-in: queue faults, change tokens, send events.

A mixin over ``SlackStandIn``'s ``state``, ``events_url`` and ``signing_secret``, kept apart so
the server module stays about serving.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from . import events, messaging
from .state import APP_ID, NO_BODY, Fault, StandInState


class StandInControls:
    state: StandInState
    events_url: str | None
    signing_secret: str | None

    @property
    def url(self) -> str:  # SlackStandIn's: where it listens
        raise NotImplementedError

    # --- faults and token state -------------------------------------------------------------
    def fail_next(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int = 200,
        retry_after: int | str | None = None,
        delay: float = 0.0,
        drop: bool = False,
        times: int = 1,
        html: bool = False,
        body: Any = NO_BODY,
        raw: bytes | None = None,
        content_type: str | None = None,
        charset: str | None = None,
        patch: dict[str, Any] | None = None,
        truncate: int | None = None,
        huge: int = 0,
        trickle: float = 0.0,
        redirect: str | None = None,
    ) -> None:
        """Queue a fault for the next ``times`` calls of ``method`` (e.g. "oauth.v2.access").

        With only ``delay``, the call is answered normally (its code or refresh token spent)
        after sleeping; ``drop`` reads the request and hangs up without doing anything.
        ``status`` alone answers Slack's JSON error envelope with that status (``retry_after``:
        any string for the Retry-After header, e.g. "abc" or "-5"). See ``state.Fault`` for
        the other modes; with none at all, the answer is ``internal_error``.
        """
        fault = Fault(
            error, status, retry_after, delay, drop, times, html, body, raw, content_type,
            charset, patch, truncate, huge, trickle, redirect,
        )  # fmt: skip
        delivers_badly = any(
            (fault.delay, fault.patch, fault.truncate is not None, fault.trickle, fault.charset)
        )
        if not fault.replaces_answer and not drop and not delivers_badly and not content_type:
            fault.error = "internal_error"
        self.state.queue_fault(method, fault)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Until no API request is being answered (a delayed or trickled one has finished)."""
        deadline = time.monotonic() + timeout
        while self.state.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)

    @property
    def lost(self) -> list[dict[str, Any]]:
        """Answers that issued tokens the client never received whole (see ``StandInState``)."""
        with self.state.lock:
            return list(self.state.lost)

    def token_info(self, token: str) -> dict[str, Any] | None:
        with self.state.lock:
            record = self.state.tokens.get(token)
            return None if record is None else record.info()

    def revoke_token(self, token: str) -> None:
        with self.state.lock:
            self.state.token(token).revoked = True

    def set_token_error(self, token: str, error: str | None) -> None:
        """Make every use of ``token`` fail with ``error`` (None clears it)."""
        with self.state.lock:
            self.state.token(token).error = error

    def expire_token(self, token: str) -> None:
        with self.state.lock:
            self.state.token(token).expires_at = time.time() - 1

    def set_scopes(self, token: str, scopes: str) -> None:
        with self.state.lock:
            self.state.token(token).scopes = scopes

    # --- events -------------------------------------------------------------------------------
    def send_event(
        self,
        event: dict[str, Any],
        *,
        team_id: str | None,
        enterprise_id: str | None = None,
        event_id: str | None = None,
        event_time: int | None = None,
        retry_num: int | None = None,
        events_url: str | None = None,
        signing_secret: str | None = None,
        is_enterprise_install: bool | None = None,
        timestamp: int | None = None,
    ) -> tuple[int, str]:
        """Wrap ``event`` in an event_callback envelope, sign it, POST it; (status, body)."""
        url = events_url or self.events_url
        secret = signing_secret or self.signing_secret
        if not url or not secret:
            raise ValueError("send_event needs events_url and signing_secret")
        payload = events.envelope(
            event,
            team_id=team_id,
            enterprise_id=enterprise_id,
            is_enterprise_install=team_id is None
            if is_enterprise_install is None
            else is_enterprise_install,
            event_id=event_id,
            event_time=event_time,
        )
        return events.deliver(
            payload, events_url=url, signing_secret=secret, retry_num=retry_num, timestamp=timestamp
        )

    def verify_url(
        self, *, events_url: str | None = None, signing_secret: str | None = None
    ) -> tuple[str, int, str]:
        """What setting the Request URL does on Slack: a signed url_verification with a fresh
        challenge; (challenge, status, body) so the caller can check it was echoed."""
        url = events_url or self.events_url
        secret = signing_secret or self.signing_secret
        if not url or not secret:
            raise ValueError("verify_url needs events_url and signing_secret")
        challenge = secrets.token_urlsafe(36)
        status, body = events.deliver(
            events.url_verification(challenge), events_url=url, signing_secret=secret
        )
        return challenge, status, body

    # --- a Bolt app's traffic (messaging.py) -----------------------------------------------------
    @property
    def messages(self) -> list[messaging.Message]:
        """What the app posted (chat.postMessage) or sent to a response_url, oldest first."""
        return self.state.outbox.all()

    def send_mention(
        self,
        text: str,
        *,
        team_id: str | None,
        enterprise_id: str | None = None,
        channel: str = messaging.DEFAULT_CHANNEL,
        events_url: str | None = None,
    ) -> tuple[int, str]:
        """Someone mentions the app in ``channel``: a signed app_mention to the Request URL."""
        return self.send_event(
            messaging.mention_event(text, channel=channel),
            team_id=team_id,
            enterprise_id=enterprise_id,
            is_enterprise_install=False,
            events_url=events_url,
        )

    def send_command(
        self,
        command: str,
        text: str = "",
        *,
        team_id: str | None,
        enterprise_id: str | None = None,
        channel: str = messaging.DEFAULT_CHANNEL,
        url: str | None = None,
    ) -> tuple[int, str]:
        """Someone runs ``command``: the signed, form-encoded POST Slack sends (to ``url``, by
        default the one Request URL, ``events_url``)."""
        target = url or self.events_url
        secret = self.signing_secret
        if not target or not secret:
            raise ValueError("send_command needs a URL and signing_secret")
        body = messaging.command_form(
            self.state.outbox,
            self.url,
            command=command,
            text=text,
            team_id=team_id,
            enterprise_id=enterprise_id,
            app_id=APP_ID,
            channel=channel,
        )
        headers = events.signed_headers(body, secret)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return events.post(target, body, headers)

    def uninstall(self, team_id: str | None, enterprise_id: str | None = None) -> tuple[int, str]:
        """Revoke that target's tokens, then send app_uninstalled; (0, "") without events_url.

        Slack sends app_uninstalled once the app's last tokens are gone (docs/slack-protocol.md §6).
        """
        install = self.state.revoke_team(team_id, enterprise_id)
        if not self.events_url or not self.signing_secret:
            return 0, ""
        return self.send_event(
            {"type": "app_uninstalled"},
            team_id=team_id,
            enterprise_id=enterprise_id or (install.enterprise_id if install else None),
            is_enterprise_install=install.is_enterprise_install if install else None,
        )
