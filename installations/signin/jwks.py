"""Slack's signing keys (JWKS), fetched through our hardened transport and cached for a while.

Fetched with ``installations.slack.transport.send`` (one deadline for the whole answer, a 1 MiB
cap, no redirects), so a slow or hostile key endpoint cannot hold a worker or send us elsewhere.
Cached in Django's cache for ``SLACK_SIGNIN_JWKS_CACHE_SECONDS`` (at most a day), so a key Slack
withdrew stops being trusted within that time; an unknown ``kid`` triggers one refetch (Slack
rotated its keys), never more per sign-in.
"""

from __future__ import annotations

import hashlib
import logging
import urllib.request
from typing import Any

import jwt
from django.core.cache import cache

from installations.conf import slack_config
from installations.exceptions import SlackInstallError, UnexpectedAnswer
from installations.signin.conf import signin_config
from installations.signin.errors import BadIdToken
from installations.slack import answers as slack_answers
from installations.slack import transport as slack_transport

logger = logging.getLogger(__name__)

MAX_KEYS = 20  # Slack publishes one or two; more is not a key set we want to parse


def _cache_key(url: str) -> str:
    return "slackinstall:signin:jwks:" + hashlib.sha256(url.encode()).hexdigest()


def _fetch(url: str) -> dict[str, Any]:
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
        data = slack_answers.parse_json_object(answer.body, answer.header("Content-Type"))
    except UnexpectedAnswer:
        raise BadIdToken("jwks_unusable") from None
    keys = data.get("keys")
    if not isinstance(keys, list) or not keys or len(keys) > MAX_KEYS:
        raise BadIdToken("jwks_unusable")
    return {"keys": keys}


def _key_set(data: dict[str, Any]) -> jwt.PyJWKSet:
    try:
        return jwt.PyJWKSet.from_dict(data)
    except jwt.PyJWKError:  # no usable key (wrong types, unknown kty)
        raise BadIdToken("jwks_unusable") from None


def signing_key(kid: str) -> jwt.PyJWK:
    """The published key with this ``kid``: from the cache, else fetched (once more when the
    cached set lacks it). BadIdToken("unknown_key") when Slack does not publish it."""
    config = signin_config()
    key = _cache_key(config.jwks_url)
    cached = cache.get(key)
    if isinstance(cached, dict):
        found = _find(_key_set(cached), kid)
        if found is not None:
            return found
    fresh = _fetch(config.jwks_url)
    if config.jwks_cache_seconds:
        cache.set(key, fresh, config.jwks_cache_seconds)
    found = _find(_key_set(fresh), kid)
    if found is None:
        raise BadIdToken("unknown_key")
    return found


def _find(keys: jwt.PyJWKSet, kid: str) -> jwt.PyJWK | None:
    return next((k for k in keys.keys if k.key_id == kid), None)
