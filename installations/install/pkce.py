"""PKCE (RFC 7636) for the install flow: the S256 challenge and the verifier of one state.

Off unless SLACK_PKCE is set: switching it on at Slack marks the app a public client for good
(docs/slack-protocol.md §1, §2). The verifier is never stored nor put in a URL: it is an
HMAC-SHA256 of the state keyed by the browser's HttpOnly binding value (``cookie.py``), so
issuing still writes nothing, and a state with another browser's cookie, or a code with another
state, yields a verifier Slack refuses.
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
