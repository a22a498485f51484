"""PKCE on the stand-in (RFC 7636), checked where Slack checks it.

docs.slack.dev/authentication/using-pkce: once an app switches PKCE on, ``/oauth/v2/authorize``
(and Sign in with Slack's ``/openid/connect/authorize``) take ``code_challenge`` and
``code_challenge_method``, and the code exchange takes ``code_verifier``. A code issued with a
challenge is only exchanged with the verifier it was made from. The refusal codes are Slack's:
``invalid_code_verifier`` for ``oauth.v2.access`` (docs.slack.dev/reference/methods/
oauth.v2.access, "Errors") and ``invalid_grant`` for ``openid.connect.token``
(docs.slack.dev/reference/methods/openid.connect.token: "the PKCE code_verifier does not
match"). docs/slack-protocol.md §1 and §2 record the sources.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

METHODS = frozenset({"S256", "plain"})  # RFC 7636 §4.3: "plain" when no method is given
# RFC 7636 §4.1 / §4.2: 43 to 128 unreserved characters, for a verifier and a challenge alike.
UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


@dataclass(frozen=True)
class Challenge:
    value: str
    method: str

    def accepts(self, verifier: str) -> bool:
        """Whether ``verifier`` is the one this challenge was made from (RFC 7636 §4.6)."""
        if not UNRESERVED.fullmatch(verifier):
            return False
        if self.method == "S256":
            digest = hashlib.sha256(verifier.encode("ascii")).digest()
            derived = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        else:
            derived = verifier
        return hmac.compare_digest(derived, self.value)


class BadChallenge(ValueError):
    """The authorize request's PKCE parameters are malformed (RFC 7636 §4.4.1)."""


def challenge_from(params: dict[str, str]) -> Challenge | None:
    """The authorize request's challenge, None without one; BadChallenge for a malformed one."""
    value = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if value is None:
        if method is not None:
            raise BadChallenge("code_challenge_method without code_challenge")
        return None
    method = method or "plain"
    if method not in METHODS or not UNRESERVED.fullmatch(value):
        raise BadChallenge("code_challenge or code_challenge_method")
    return Challenge(value, method)


def verifier_refused(challenge: Challenge | None, params: dict[str, str]) -> bool:
    """Whether an exchange must be refused: a challenge was given and the verifier is missing
    or does not match it. Without a challenge a verifier is not looked at."""
    return challenge is not None and not challenge.accepts(params.get("code_verifier", ""))
