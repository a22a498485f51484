"""PKCE (RFC 7636) for the install flow: the S256 challenge and the verifier of one state.

Slack takes ``code_challenge`` / ``code_challenge_method`` on ``/oauth/v2/authorize`` and
``code_verifier`` on ``oauth.v2.access`` once PKCE is switched on in the app's settings
(docs.slack.dev/authentication/using-pkce; docs/slack-protocol.md §1, §2). It is off unless
SLACK_PKCE is set: switching it on at Slack marks the app a public client for good, and then
Slack's refresh tokens expire after 30 days.

The verifier is never stored and never travels in a URL. It is derived, when needed, from the
two things only the browser that started the flow presents together: the state (signed by us)
and the browser's HttpOnly binding value (``cookie.py``), as an HMAC-SHA256 keyed by that
value. So issuing a state still writes nothing (``state.py``), the callback recomputes exactly
the verifier the challenge was made from, and a state presented with another browser's cookie,
or a code presented with another state, yields a different verifier, which Slack refuses. A
state is spent once before any exchange, so a reused state never reaches Slack.
"""

from __future__ import annotations

import base64
import hashlib

from django.utils.crypto import salted_hmac

PKCE_SALT = "installations.install.pkce.verifier"
CHALLENGE_METHOD = "S256"
# RFC 7636 §4.1: 43 to 128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
VERIFIER_CHARSET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
MIN_VERIFIER_LENGTH = 43
MAX_VERIFIER_LENGTH = 128


def _base64url(raw: bytes) -> str:
    """Base64url without padding (RFC 7636 Appendix A)."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def verifier_for(state: str, browser_value: str) -> str:
    """The code verifier of ``state`` in the browser holding ``browser_value``: 43 characters
    (256 bits of HMAC-SHA256 output, base64url), the length RFC 7636 §4.1 recommends."""
    digest = salted_hmac(PKCE_SALT, state, secret=browser_value, algorithm="sha256").digest()
    return _base64url(digest)


def challenge_for(verifier: str) -> str:
    """The S256 challenge: BASE64URL(SHA256(ASCII(code_verifier))) (RFC 7636 §4.2)."""
    return _base64url(hashlib.sha256(verifier.encode("ascii")).digest())


def is_valid_verifier(verifier: str) -> bool:
    """Whether ``verifier`` has RFC 7636's length and characters."""
    return MIN_VERIFIER_LENGTH <= len(verifier) <= MAX_VERIFIER_LENGTH and set(verifier) <= (
        VERIFIER_CHARSET
    )
