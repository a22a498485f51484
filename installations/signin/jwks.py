"""Slack's signing keys (JWKS), fetched through our hardened transport, checked, then cached.

Only RSA keys of 2048 bits or more for RS256 are kept; an answer with none is refused. An unknown
``kid`` triggers at most one refetch per sign-in.
"""

from __future__ import annotations

import logging
import urllib.request
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from installations.conf import slack_config
from installations.exceptions import SlackInstallError, UnexpectedAnswer
from installations.infrastructure import shared_cache
from installations.signin.conf import signin_config
from installations.signin.errors import BadIdToken
from installations.slack import answers as slack_answers
from installations.slack import transport as slack_transport

logger = logging.getLogger(__name__)

MAX_KEYS = 20  # Slack publishes one or two; more is not a key set we want to parse
MIN_RSA_BITS = 2048
ALGORITHM = "RS256"


@dataclass(frozen=True)
class SigningKeys:
    """A key set's usable keys: ``published`` as Slack sent them (cached), ``keys`` loaded."""

    published: dict[str, Any]
    keys: tuple[jwt.PyJWK, ...]

    def find(self, kid: str) -> jwt.PyJWK | None:
        return next((key for key in self.keys if key.key_id == kid), None)


def signing_keys(data: object) -> SigningKeys | None:
    """The keys of a key set that can check an RS256 id_token, or None when there is none;
    anything else never reaches PyJWT, whose errors for such keys are not of one family."""
    if not isinstance(data, dict):
        return None
    published = data.get("keys")
    if not isinstance(published, list) or len(published) > MAX_KEYS:
        return None
    usable = [(item, key) for item in published if (key := _rs256_key(item)) is not None]
    if not usable:
        return None
    return SigningKeys({"keys": [item for item, _key in usable]}, tuple(k for _i, k in usable))


def _rs256_key(item: object) -> jwt.PyJWK | None:
    if not isinstance(item, dict) or item.get("kty") != "RSA":
        return None
    kid = item.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 200:
        return None
    if item.get("use", "sig") != "sig" or item.get("alg", ALGORITHM) != ALGORITHM:
        return None
    try:
        key = jwt.PyJWK(item, algorithm=ALGORITHM)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError, AttributeError, OverflowError):
        return None  # malformed numbers (base64, sizes): not a key
    if not isinstance(key.key, RSAPublicKey) or key.key.key_size < MIN_RSA_BITS:
        return None
    return key


def _fetch(url: str) -> object:
    # The transport accepts only http(s) and never follows a redirect (slack/transport.py).
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        answer = slack_transport.send(request, timeout=float(slack_config().http_timeout_seconds))
    except SlackInstallError as exc:
        logger.warning("sign-in key set unreachable reason=%s", exc.reason)
        raise BadIdToken("jwks_unavailable") from None
    except OSError as exc:  # refused, reset, DNS (URLError included)
        logger.warning("sign-in key set unreachable: %s", type(exc).__name__)
        raise BadIdToken("jwks_unavailable") from None
    if answer.status != 200:
        logger.warning("sign-in key set answered HTTP %s", answer.status)
        raise BadIdToken("jwks_unavailable")
    try:
        return slack_answers.parse_json_object(answer.body, answer.header("Content-Type"))
    except UnexpectedAnswer:
        raise BadIdToken("jwks_unusable") from None


def signing_key(kid: str) -> jwt.PyJWK:
    """The published key with this ``kid``: from the cache, else fetched (once more when the
    cached set lacks it); BadIdToken when Slack does not publish it or holds no usable key."""
    config = signin_config()
    key = shared_cache.cache_key("signin_jwks", config.jwks_url)
    if config.jwks_cache_seconds:
        cached = shared_cache.read(key, signing_keys)
        found = cached.find(kid) if cached is not None else None
        if found is not None:
            return found
    fresh = signing_keys(_fetch(config.jwks_url))
    if fresh is None:
        logger.warning("sign-in key set holds no usable RS256 key: not kept")
        raise BadIdToken("jwks_unusable")
    if config.jwks_cache_seconds:
        shared_cache.write(key, fresh.published, config.jwks_cache_seconds)
    found = fresh.find(kid)
    if found is None:
        raise BadIdToken("unknown_key")
    return found
