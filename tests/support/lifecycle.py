"""Helpers for the lifecycle and events tests: Slack's signature and envelope, due tokens,
threads started together, and every stored fact a token path could change.

The fixtures that install or save workspaces and post events (``install``, ``saved_workspace``,
``post_event``) are in tests/conftest.py. Tokens are runtime-generated fakes.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import connection
from django.utils import timezone
from slack_sdk.signature import SignatureVerifier

from installations.conf import slack_config
from installations.encryption.fields import StoredEnvelope
from installations.models import Installation, LifecycleEvent, Workspace


def sign(body: bytes, *, timestamp: int | None = None, secret: str | None = None) -> dict[str, Any]:
    """Slack's signature headers for ``body`` (Django test-client header names)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    verifier = SignatureVerifier(secret or slack_config().signing_secret)
    return {
        "HTTP_X_SLACK_REQUEST_TIMESTAMP": ts,
        "HTTP_X_SLACK_SIGNATURE": verifier.generate_signature(timestamp=ts, body=body) or "",
    }


def envelope(event: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """An event_callback as Slack wraps it (docs/slack-protocol.md §6)."""
    payload = {
        "token": secrets.token_hex(6),  # the deprecated verification token proves nothing
        "team_id": "T0STANDIN1",
        "api_app_id": "A0STANDIN",
        "event": event,
        "type": "event_callback",
        "event_id": "Ev" + secrets.token_hex(5).upper(),
        "event_time": int(time.time()),
    }
    payload.update(overrides)
    return payload


# --- token rotation helpers ----------------------------------------------------------------------


def refresh_calls(standin: Any) -> list[str]:
    """The refresh tokens the stand-in received, in order."""
    return [
        c.params["refresh_token"]
        for c in standin.calls_to("oauth.v2.access")
        if c.params.get("grant_type") == "refresh_token"
    ]


def make_due(workspace: Workspace) -> None:
    """Bot and user tokens of ``workspace`` expire in five minutes."""
    soon = timezone.now() + timedelta(minutes=5)
    Workspace.objects.filter(pk=workspace.pk).update(bot_token_expires_at=soon)
    Installation.objects.filter(workspace=workspace).update(user_token_expires_at=soon)


def run_at_once(workers: int, job: Callable[[], Any]) -> list[Any]:
    """Start ``workers`` threads together; each closes its own DB connection."""
    barrier, results, errors = threading.Barrier(workers), [], []

    def run() -> None:
        try:
            barrier.wait()
            results.append(job())
        except Exception as exc:  # surfaced below, with the thread's traceback lost only here
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


WORKSPACE_STATE = (
    "bot_token", "bot_refresh_token", "bot_token_expires_at", "bot_refresh_claimed_until",
    "bot_revoked_at", "uninstalled_at", "refresh_failed_at", "health", "verify_failures",
    "last_verified_at", "last_error", "last_error_at", "bot_scopes",
)  # fmt: skip
INSTALLATION_STATE = (
    "user_token", "user_refresh_token", "user_token_expires_at", "user_refresh_claimed_until",
    "user_token_revoked_at", "deleted_at", "is_current", "incoming_webhook_url",
)  # fmt: skip


def stored_state() -> dict[str, Any]:
    """Every stored fact a token path could change, envelopes as stored (nothing decrypted)."""

    def raw(values: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(v.envelope if isinstance(v, StoredEnvelope) else v for v in values)

    return {
        "workspaces": {
            row[0]: raw(row[1:]) for row in Workspace.objects.values_list("pk", *WORKSPACE_STATE)
        },
        "installations": {
            row[0]: raw(row[1:])
            for row in Installation.objects.values_list("pk", *INSTALLATION_STATE)
        },
        "events": list(LifecycleEvent.objects.order_by("pk").values_list("kind", "detail")),
    }
