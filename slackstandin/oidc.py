"""Sign in with Slack on the stand-in: OpenID Connect as Slack plays it (dev and tests only).

https://docs.slack.dev/authentication/sign-in-with-slack: the authorize page
(``/openid/connect/authorize``, a choice of user and workspace), ``openid.connect.token`` (the
code spent once; an access token and an RS256 ``id_token``), ``openid.connect.userInfo`` and the
key set at ``/openid/connect/keys``. The RSA key is generated with ``cryptography`` when the
stand-in first needs it (per stand-in, never written anywhere).

Faults (``forge_next_id_token``): each makes the next id_token wrong in one way only, so a test
can tell which check refused it: wrong_audience, expired, unsigned (alg none), bad_signature,
unknown_kid, replayed_nonce (the nonce of an earlier sign-in), wrong_issuer. Ordinary HTTP faults
on the token method go through ``fail_next("openid.connect.token", ...)`` as for any method.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from .authorize import AuthorizeError, challenge, query_params, redirect_to
from .pkce import Challenge, verifier_refused
from .state import DEFAULT_TEAM_ID, Call, StandInState, TokenRecord, new_hex, team_name_for

ISSUER = "https://slack.com"
ID_TOKEN_SECONDS = 300
FAULTS = frozenset(
    {
        "wrong_audience",
        "expired",
        "unsigned",
        "bad_signature",
        "unknown_kid",
        "replayed_nonce",
        "wrong_issuer",
    }
)
# Who can sign in on the stand-in's page: (user id, name, email). Obviously fake.
USERS = (
    ("U0STANDINUSR", "Stand-in Installer", "installer@standin.example"),
    ("U0STANDIN2", "Second Person", "second@standin.example"),
    ("U0STANDIN3", "Third Person", "third@standin.example"),
)


@dataclass
class OidcGrant:
    code: str
    client_id: str
    redirect_uri: str
    nonce: str | None
    user_id: str
    team_id: str
    enterprise_id: str | None
    name: str
    email: str
    code_challenge: Challenge | None = None  # PKCE, when the authorize request carried one
    used: bool = False
    created_at: float = field(default_factory=time.time)


class OidcState:
    """Keys, codes, issued tokens and queued id_token faults of one stand-in."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "standin-" + new_hex(8)
        self.grants: dict[str, OidcGrant] = {}
        self.faults: deque[str] = deque()
        self.nonces: list[str] = []  # every nonce put in an id_token, for replayed_nonce
        self.userinfo: dict[str, dict[str, Any]] = {}  # access token -> claims
        self.jwks_fetches = 0  # how often the key set was fetched (tests check the caching)

    def jwks(self) -> dict[str, Any]:
        jwk = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        jwk.pop("key_ops", None)  # PyJWT adds it; Slack's key set has none (slack-protocol §8)
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return {"keys": [jwk]}


def oidc_state(state: StandInState) -> OidcState:
    """This stand-in's OIDC state, created (key generated) on first use."""
    with state.lock:
        found = getattr(state, "oidc", None)
        if found is None:
            found = OidcState()
            state.oidc = found  # type: ignore[attr-defined]
        return found


# --- authorize ------------------------------------------------------------------------------


def check(params: dict[str, str], client_id: str) -> None:
    if params.get("client_id") != client_id:
        raise AuthorizeError("invalid_client_id")
    if params.get("response_type") != "code":
        raise AuthorizeError("unsupported_response_type")
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri.startswith(("http://", "https://")) or "#" in redirect_uri:
        raise AuthorizeError("bad_redirect_uri")
    if "openid" not in params.get("scope", "").split(","):
        raise AuthorizeError("invalid_scope")
    challenge(params)


def approve(
    state: StandInState,
    params: dict[str, str],
    client_id: str,
    *,
    user_id: str,
    team_id: str | None = None,
    enterprise_id: str | None = None,
    name: str | None = None,
    email: str | None = None,
) -> str:
    """Allow: a single-use code for this user, and the redirect URL back to the app."""
    check(params, client_id)
    known = {uid: (n, e) for uid, n, e in USERS}
    default_name, default_email = known.get(user_id, (f"Person {user_id}", ""))
    grant = OidcGrant(
        code=f"standin-oidc-code-{new_hex(16)}",
        client_id=client_id,
        redirect_uri=params["redirect_uri"],
        nonce=params.get("nonce"),
        user_id=user_id,
        team_id=team_id or params.get("team") or DEFAULT_TEAM_ID,
        enterprise_id=enterprise_id or None,
        name=name or default_name,
        email=email
        if email is not None
        else (default_email or f"{user_id.lower()}@standin.example"),
        code_challenge=challenge(params),
    )
    oidc = oidc_state(state)
    with state.lock:
        oidc.grants[grant.code] = grant
    values = {"code": grant.code}
    if "state" in params:
        values["state"] = params["state"]
    return redirect_to(params["redirect_uri"], values)


def cancel(params: dict[str, str], client_id: str) -> str:
    check(params, client_id)
    values = {"error": "access_denied"}
    if "state" in params:
        values["state"] = params["state"]
    return redirect_to(params["redirect_uri"], values)


# --- Web API methods ------------------------------------------------------------------------


def _client_credentials(call: Call) -> tuple[str, str]:
    if call.basic_auth is not None:
        return call.basic_auth
    return call.params.get("client_id", ""), call.params.get("client_secret", "")


def _claims(grant: OidcGrant) -> dict[str, Any]:
    first, _, last = grant.name.partition(" ")
    claims: dict[str, Any] = {
        "sub": grant.user_id,
        "https://slack.com/user_id": grant.user_id,
        "https://slack.com/team_id": grant.team_id,
        "https://slack.com/team_name": team_name_for(grant.team_id),
        "email": grant.email,
        "email_verified": bool(grant.email),
        "name": grant.name,
        "given_name": first,
        "family_name": last,
        "locale": "en-US",
    }
    if grant.enterprise_id:
        claims["https://slack.com/enterprise_id"] = grant.enterprise_id
    return claims


def id_token(oidc: OidcState, grant: OidcGrant, fault: str | None) -> str:
    """An RS256 id_token for the grant, wrong in exactly the way ``fault`` names (if any)."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "aud": grant.client_id,
        "iat": now,
        "exp": now + ID_TOKEN_SECONDS,
        "auth_time": now,
        **_claims(grant),
    }
    nonce = grant.nonce
    if fault == "replayed_nonce":
        nonce = oidc.nonces[-1] if oidc.nonces else "standin-stale-nonce-" + new_hex(8)
    if nonce is not None:
        payload["nonce"] = nonce
        if fault != "replayed_nonce":
            oidc.nonces.append(nonce)
    if fault == "wrong_audience":
        payload["aud"] = "9999.8888"
    elif fault == "expired":
        payload["iat"], payload["exp"] = now - 3600, now - 1800
    elif fault == "wrong_issuer":
        payload["iss"] = "https://slack.example"
    kid = "standin-unknown-" + new_hex(4) if fault == "unknown_kid" else oidc.kid
    if fault == "unsigned":
        return jwt.encode(payload, "", algorithm="none", headers={"kid": kid})
    key = oidc.key
    if fault == "bad_signature":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # same kid
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


def token(state: StandInState, call: Call, client_id: str, client_secret: str) -> dict[str, Any]:
    """openid.connect.token: the code spent once, for a user token and an id_token."""
    got_id, got_secret = _client_credentials(call)
    if got_id != client_id:
        return {"ok": False, "error": "invalid_client_id"}
    if got_secret != client_secret:
        return {"ok": False, "error": "bad_client_secret"}
    oidc = oidc_state(state)
    with state.lock:
        grant = oidc.grants.get(call.params.get("code", ""))
        if grant is None or grant.used:
            return {"ok": False, "error": "invalid_code"}
        if grant.redirect_uri != call.params.get("redirect_uri", grant.redirect_uri):
            return {"ok": False, "error": "bad_redirect_uri"}
        if verifier_refused(grant.code_challenge, call.params):
            return {"ok": False, "error": "invalid_grant"}
        grant.used = True
        fault = oidc.faults.popleft() if oidc.faults else None
        access = f"xoxp-standin-oidc-{new_hex(12)}"
        state.tokens[access] = TokenRecord(
            token=access,
            kind="user",
            team_id=grant.team_id,
            team_name=team_name_for(grant.team_id),
            enterprise_id=grant.enterprise_id,
            enterprise_name=None,
            user_id=grant.user_id,
            scopes="openid,email,profile",
            is_enterprise_install=False,
        )
        oidc.userinfo[access] = _claims(grant)
        signed = id_token(oidc, grant, fault)
    return {"ok": True, "access_token": access, "token_type": "Bearer", "id_token": signed}


def userinfo(state: StandInState, call: Call) -> dict[str, Any]:
    oidc = oidc_state(state)
    with state.lock:
        record = state.tokens.get(call.token or "")
        claims = oidc.userinfo.get(call.token or "")
    if record is None or claims is None:
        return {"ok": False, "error": "invalid_auth"}
    if record.revoked:
        return {"ok": False, "error": "token_revoked"}
    return {"ok": True, **claims}


# --- controls (a mixin of SlackStandIn) ------------------------------------------------------


class OidcControls:
    state: StandInState
    client_id: str

    def forge_next_id_token(self, fault: str, *, times: int = 1) -> None:
        """Make the next ``times`` id_tokens wrong in one way (see the module docstring)."""
        if fault not in FAULTS:
            raise ValueError(f"unknown id_token fault {fault!r}; one of {sorted(FAULTS)}")
        oidc = oidc_state(self.state)
        with self.state.lock:
            oidc.faults.extend([fault] * times)

    def approve_signin(
        self,
        authorize_url: str,
        *,
        user_id: str = USERS[0][0],
        team_id: str | None = None,
        enterprise_id: str | None = None,
        email: str | None = None,
    ) -> str:
        """What Allow on the sign-in page does: the redirect URL with a fresh code."""
        params = query_params(authorize_url)
        return approve(
            self.state,
            params,
            self.client_id,
            user_id=user_id,
            team_id=team_id,
            enterprise_id=enterprise_id,
            email=email,
        )

    @property
    def oidc_jwks(self) -> dict[str, Any]:
        return oidc_state(self.state).jwks()

    @property
    def jwks_fetches(self) -> int:
        return oidc_state(self.state).jwks_fetches

    @property
    def signin_authorize_url(self) -> str:
        return str(self.url) + "/openid/connect/authorize"  # type: ignore[attr-defined]

    @property
    def jwks_url(self) -> str:
        return str(self.url) + "/openid/connect/keys"  # type: ignore[attr-defined]
