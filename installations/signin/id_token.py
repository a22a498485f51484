"""Verify the ``id_token`` from ``openid.connect.token`` and read Slack's identity out of it.

OIDC Core §3.1.3.7: RS256 only (``none`` and HMAC refused before any key is looked up) under a
``kid`` Slack publishes; then signature, ``iss``, ``aud``, ``exp`` / ``iat`` with a small leeway
and this flow's ``nonce``. No claim value is logged; unstorable text is ``unusable_claim``. A
claim is never cut: one longer than the column that keeps it is not kept (a cut email is another
address, at another domain), and an email that is not a whole valid address is no email.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Any

import jwt
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.views.decorators.debug import sensitive_variables

from installations.conf import slack_config
from installations.signin import jwks
from installations.signin.conf import signin_config
from installations.signin.errors import BadIdToken, UnusableClaim
from installations.slack.answers import storable_text

ALGORITHM = jwks.ALGORITHM
MAX_ID_TOKEN_LENGTH = 16 * 1024
USER_ID = re.compile(r"[UW][A-Z0-9]{2,31}")
TEAM_ID = re.compile(r"T[A-Z0-9]{2,31}")
ENTERPRISE_ID = re.compile(r"E[A-Z0-9]{2,31}")
CLAIM = "https://slack.com/"
REQUIRED = ["iss", "sub", "aud", "exp", "iat", "nonce"]
# The columns that keep the claims: SlackIdentity's email and names, the user model's names.
MAX_TEXT = 255
MAX_EMAIL = 254
MAX_PERSON_NAME = 150


@dataclass(frozen=True)
class SlackUser:
    """Who signed in, as Slack vouched for it in a verified id_token."""

    user_id: str
    team_id: str
    enterprise_id: str  # "" outside Enterprise Grid
    email: str
    email_verified: bool
    name: str
    given_name: str
    family_name: str
    team_name: str

    @property
    def home(self) -> str:
        """The scope a user id is unique in: the org in Grid, else the workspace."""
        return self.enterprise_id or self.team_id


@sensitive_variables("token", "claims")
def verify_id_token(token: object, *, nonce: str) -> SlackUser:
    """The verified identity, or BadIdToken with the reason of the first check that failed."""
    if not isinstance(token, str) or not token or len(token) > MAX_ID_TOKEN_LENGTH:
        raise BadIdToken("invalid_id_token")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise BadIdToken("invalid_id_token") from None
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm.lower() == "none":
        raise BadIdToken("unsigned_id_token")
    if algorithm != ALGORITHM:
        raise BadIdToken("unexpected_algorithm")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 200:
        raise BadIdToken("unknown_key")
    claims = _decode(token, jwks.signing_key(kid))
    expected = claims.get("nonce")
    if not isinstance(expected, str) or not hmac.compare_digest(
        expected.encode("utf-8", "replace"), nonce.encode()
    ):
        raise BadIdToken("invalid_nonce")
    return _identity(claims)


@sensitive_variables("token")
def _decode(token: str, key: jwt.PyJWK) -> dict[str, Any]:
    config = signin_config()
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key.key,
            algorithms=[ALGORITHM],
            audience=slack_config().client_id,
            issuer=config.issuer,
            leeway=config.leeway_seconds,
            options={"require": REQUIRED, "strict_aud": True},
        )
    except jwt.InvalidSignatureError:
        raise BadIdToken("bad_signature") from None
    except jwt.ExpiredSignatureError:
        raise BadIdToken("expired_id_token") from None
    except jwt.InvalidAudienceError:
        raise BadIdToken("wrong_audience") from None
    except jwt.InvalidIssuerError:
        raise BadIdToken("wrong_issuer") from None
    except (jwt.ImmatureSignatureError, jwt.InvalidIssuedAtError):
        raise BadIdToken("id_token_not_yet_valid") from None
    except jwt.PyJWTError:  # a required claim missing, a malformed one, bad encoding
        raise BadIdToken("invalid_id_token") from None
    return claims


def _text(claims: dict[str, Any], name: str, limit: int = MAX_TEXT) -> str:
    """The claim as Slack sent it, or "" when it is absent, not text or over ``limit``
    characters (never cut); UnusableClaim for text no database can hold."""
    value = claims.get(name)
    if not isinstance(value, str):
        return ""
    if not storable_text(value):
        raise UnusableClaim()
    return value if len(value) <= limit else ""


def _email(claims: dict[str, Any]) -> tuple[str, bool]:
    """The email and whether Slack verified it; ("", False) unless the claim is one whole, valid
    address: only such an email is stored or matched against SLACK_SIGNIN_STAFF_EMAIL_DOMAIN."""
    email = _text(claims, "email", MAX_EMAIL)
    try:
        validate_email(email)
    except ValidationError:
        return "", False
    return email, claims.get("email_verified") is True


def _identity(claims: dict[str, Any]) -> SlackUser:
    user_id = _text(claims, CLAIM + "user_id")
    team_id = _text(claims, CLAIM + "team_id")
    enterprise_id = _text(claims, CLAIM + "enterprise_id")
    user_ok = USER_ID.fullmatch(user_id) and claims.get("sub") == user_id
    enterprise_ok = not enterprise_id or ENTERPRISE_ID.fullmatch(enterprise_id)
    if not (user_ok and TEAM_ID.fullmatch(team_id) and enterprise_ok):
        raise BadIdToken("invalid_id_token")
    email, email_verified = _email(claims)
    return SlackUser(
        user_id=user_id,
        team_id=team_id,
        enterprise_id=enterprise_id,
        email=email,
        email_verified=email_verified,
        name=_text(claims, "name"),
        given_name=_text(claims, "given_name", MAX_PERSON_NAME),
        family_name=_text(claims, "family_name", MAX_PERSON_NAME),
        team_name=_text(claims, CLAIM + "team_name"),
    )
