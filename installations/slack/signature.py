"""Slack request signatures, checked over the raw body before anything is parsed.

docs/slack-protocol.md §6: HMAC-SHA256 over ``v0:<timestamp>:<raw body>`` with the signing
secret, a five-minute replay window. We compute it ourselves over bytes instead of calling
slack_sdk's ``SignatureVerifier``, because that verifier trusts its inputs: it ``int()``s the
timestamp (so Arabic-Indic digits or `` 12`` pass, and a 400-digit timestamp raises
``OverflowError`` when subtracted from the clock), decodes the body as UTF-8, and compares ``str``
digests (``TypeError`` on non-ASCII). An anonymous request must never raise: here each header is
first checked against a full-match pattern (ASCII digits of bounded length, ``v0=`` and 64
lowercase hex digits), then the digest is compared as bytes with ``hmac.compare_digest``;
whatever the headers hold, the answer is "valid" or a short reason.
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
    if value is None:
        return None
    return value if isinstance(value, str) else ""


@sensitive_variables("secret")
def verify_signature(
    body: bytes, headers: Mapping[str, Any], *, clock: Clock | None = None
) -> bool:
    """True when ``body`` carries a valid, fresh Slack signature. Logs the reason only.

    Never raises for any header value or body: see the module docstring for why this does not
    call slack_sdk's SignatureVerifier.
    """
    secret = slack_config().signing_secret
    if not secret:
        logger.error("SLACK_SIGNING_SECRET is not set: every event is refused")
        return False
    problem = signature_problem(
        secret,
        body,
        _header(headers, TIMESTAMP_HEADER),
        _header(headers, SIGNATURE_HEADER),
        now=(clock or Clock()).now(),
    )
    if problem:
        logger.warning("refused an event: %s", problem)
        return False
    return True


@sensitive_variables()  # every local here, and in every frame below, is hidden from error pages
def signature_problem(
    secret: str, body: bytes, timestamp: str | None, signature: str | None, *, now: float
) -> str | None:
    """None when ``signature`` is Slack's for ``timestamp`` and ``body``; else a short reason.

    The reason never quotes a header: the expected digest is a valid signature for this body, and
    header values are the sender's text.
    """
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
