"""Slack request signatures, checked over the raw body before anything is parsed.

docs/slack-protocol.md §6. Not slack_sdk's ``SignatureVerifier``, which trusts its inputs (a
huge timestamp overflows, non-ASCII digests raise): each header must fully match a bounded ASCII
pattern first, so any request gets "valid" or a short reason, never an exception.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Mapping
from typing import Any

from django.views.decorators.debug import sensitive_variables
from slack_sdk.signature import Clock

from installations.conf import slack_config

logger = logging.getLogger(__name__)

TIMESTAMP_HEADER = "x-slack-request-timestamp"
SIGNATURE_HEADER = "x-slack-signature"
SIGNATURE_VERSION = "v0"
REPLAY_WINDOW_SECONDS = 300
# Unix seconds in ASCII digits only ("[0-9]": "\d" also matches other scripts' digits); 12 digits
# reach the year 33658, so int() of it is cheap and subtracting it from the clock cannot overflow.
TIMESTAMP = re.compile(r"[0-9]{1,12}")
SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")  # what hexdigest() produces; anything else cannot match


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    """A header by case-insensitive name; ``""`` for a value that is not text."""
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if str(k).lower() == name), None)
    return value if value is None or isinstance(value, str) else ""


@sensitive_variables("secret")
def verify_signature(
    body: bytes, headers: Mapping[str, Any], *, clock: Clock | None = None
) -> bool:
    """True when ``body`` carries a valid, fresh Slack signature; never raises. Logs the reason."""
    secret = slack_config().signing_secret
    if not secret:
        logger.error("SLACK_SIGNING_SECRET is not set: every event is refused")
        return False
    timestamp, signature = _header(headers, TIMESTAMP_HEADER), _header(headers, SIGNATURE_HEADER)
    problem = signature_problem(secret, body, timestamp, signature, now=(clock or Clock()).now())
    if problem:
        logger.warning("refused an event: %s", problem)
        return False
    return True


@sensitive_variables()  # every local here, and in every frame below, is hidden from error pages
def signature_problem(
    secret: str, body: bytes, timestamp: str | None, signature: str | None, *, now: float
) -> str | None:
    """None when ``signature`` is Slack's for ``timestamp`` and ``body``, else a short reason."""
    if not timestamp or not signature:
        return "missing signature"
    if not TIMESTAMP.fullmatch(timestamp):
        return "malformed timestamp"
    if abs(now - int(timestamp)) > REPLAY_WINDOW_SECONDS:
        return "stale timestamp"
    if not SIGNATURE.fullmatch(signature):
        return "malformed signature"
    signed = b"%s:%s:%s" % (SIGNATURE_VERSION.encode(), timestamp.encode("ascii"), body)
    expected = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    given = signature[len(SIGNATURE_VERSION) + 1 :]
    if not hmac.compare_digest(expected.encode("ascii"), given.encode("ascii")):
        return "bad signature"
    return None
