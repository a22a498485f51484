"""What Slack answers during a sign-in is checked before it is used or kept: the key set (never
cached unless usable), the token answer (its user token revoked whatever is wrong with it) and
the verified claims (text the databases and pages can hold)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from installations.infrastructure import shared_cache
from installations.signin import jwks
from installations.signin.errors import UnusableClaim
from installations.signin.id_token import CLAIM, _identity
from installations.signin.models import SlackIdentity
from installations.slack.answers import storable_text
from slackstandin import SlackStandIn
from tests.support.standin import is_live

pytestmark = pytest.mark.django_db


class KeySetServer:
    """A loopback HTTP server answering the key set with whatever ``body`` holds."""

    def __init__(self) -> None:
        self.body: Any = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                data = json.dumps(server.body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/openid/connect/keys"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def key_set(signin: SlackStandIn, settings: Any) -> Iterator[KeySetServer]:
    server = KeySetServer()
    settings.SLACK_SIGNIN_JWKS_URL = server.url
    yield server
    server.close()


def public_jwk(key: Any, kid: str) -> dict[str, Any]:
    algorithm = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm
    jwk: dict[str, Any] = algorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid}


def unusable_key_sets(good: dict[str, Any]) -> dict[str, Any]:
    """Key set answers with no key that can check the id_token ``good`` (a JWK) signs."""
    kid = good["kid"]
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (on purpose)
    curve = ec.generate_private_key(ec.SECP256R1())
    symmetric = {"kty": "oct", "kid": kid, "k": "c2VjcmV0"}
    return {
        "an empty key": {"keys": [{}]},
        "a list": [good],
        "a list as a key": {"keys": [[1, 2]]},
        "keys as text": {"keys": "RSA"},
        "no keys": {"keys": []},
        "an EC key under the kid": {"keys": [public_jwk(curve, kid)]},
        "a short RSA key under the kid": {"keys": [public_jwk(short, kid)]},
        "a symmetric key under the kid": {"keys": [symmetric]},
        "RSA numbers that are no base64": {"keys": [{**good, "n": "!", "e": "?"}]},
        "an RSA key for encryption": {"keys": [{**good, "use": "enc"}]},
        "an RSA key for another algorithm": {"keys": [{**good, "alg": "RS512"}]},
    }


CASES = sorted(unusable_key_sets({"kid": "k", "kty": "RSA"}))


@pytest.mark.parametrize("case", CASES)
def test_an_unusable_key_set_is_refused_and_never_kept(
    case: str, key_set: KeySetServer, signin: SlackStandIn, client_signin: Any
) -> None:
    good = signin.oidc_jwks
    key_set.body = unusable_key_sets(good["keys"][0])[case]
    refused = client_signin(Client())
    assert refused.status_code == 502
    assert b"<code>jwks_unusable</code>" in refused.content
    assert b"Start the sign-in again" in refused.content
    # The user token Slack issued with it was revoked, and nothing of the answer was kept:
    assert len(signin.calls_to("auth.revoke")) == len(signin.calls_to("openid.connect.token"))
    key = shared_cache.cache_key("signin_jwks", key_set.url)
    assert shared_cache.read(key, lambda value: value) is None
    key_set.body = good  # Slack fixed it: the next sign-in works at once, not in an hour
    assert client_signin(Client())["Location"] == "/slack/signin/workspaces"


def test_only_the_usable_keys_of_a_key_set_are_kept(
    key_set: KeySetServer, signin: SlackStandIn, client_signin: Any
) -> None:
    good = signin.oidc_jwks["keys"][0]
    key_set.body = {"keys": [{}, {"kty": "oct", "kid": "other", "k": "c2VjcmV0"}, good]}
    assert client_signin(Client())["Location"] == "/slack/signin/workspaces"
    kept = shared_cache.read(shared_cache.cache_key("signin_jwks", key_set.url), jwks.signing_keys)
    assert kept is not None and kept.published == {"keys": [good]}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
JWK_FIELDS = st.sampled_from(["kty", "kid", "n", "e", "alg", "use", "crv", "x", "y", "k"])
JWK_VALUES = st.sampled_from(["RSA", "EC", "oct", "RS256", "sig", "enc", "AQAB", "", "!"]) | JSON


@given(
    data=JSON | st.fixed_dictionaries({"keys": st.lists(st.dictionaries(JWK_FIELDS, JWK_VALUES))})
)
def test_the_key_set_check_never_raises_and_keeps_only_rs256_keys(data: Any) -> None:
    found = jwks.signing_keys(data)
    if found is not None:
        assert found.keys and all(key.key_type == "RSA" for key in found.keys)
        assert found.published["keys"] and len(found.published["keys"]) == len(found.keys)


# --- the token answer ---------------------------------------------------------------------


@pytest.mark.parametrize("id_token", [None, "", 42, [], {"id": "token"}, True])
def test_an_unusable_token_answer_still_revokes_the_user_token(
    signin: SlackStandIn, client_signin: Any, id_token: Any
) -> None:
    signin.fail_next("openid.connect.token", patch={"id_token": id_token})
    response = client_signin(Client())
    assert response.status_code == 502 and b"<code>missing_id_token</code>" in response.content
    revoked = signin.calls_to("auth.revoke")
    assert len(revoked) == 1 and revoked[0].token is not None
    assert revoked[0].token.startswith("xoxp-")
    assert get_user_model().objects.count() == 0


def sign_in_tokens(standin: SlackStandIn) -> list[str]:
    """The user tokens the stand-in issued at openid.connect.token."""
    with standin.state.lock:
        return [t for t, r in standin.state.tokens.items() if r.scopes == "openid,email,profile"]


# The real answer, issued tokens and all, in a form the client refuses before any check.
UNUSABLE_TOKEN_ANSWERS: dict[str, dict[str, Any]] = {
    "text/plain": {"content_type": "text/plain"},
    "labelled HTML": {"content_type": "text/html; charset=utf-8"},
    "a charset not UTF-8": {"charset": "utf-16"},
    "ok as text": {"patch": {"ok": "true"}},
    "ok missing": {"patch": {"ok": None}},
}


@pytest.mark.parametrize("fault", sorted(UNUSABLE_TOKEN_ANSWERS))
def test_a_token_answer_that_cannot_be_read_still_revokes_the_user_token(
    signin: SlackStandIn, client_signin: Any, fault: str
) -> None:
    signin.fail_next("openid.connect.token", **UNUSABLE_TOKEN_ANSWERS[fault])
    response = client_signin(Client())
    assert response.status_code == 502 and b"<code>unexpected_response</code>" in response.content
    issued = sign_in_tokens(signin)
    assert len(issued) == 1 and not is_live(signin, issued[0])
    assert [call.token for call in signin.calls_to("auth.revoke")] == issued
    assert get_user_model().objects.count() == 0


@pytest.mark.parametrize("status", [201, 202, 500])
def test_a_token_answer_with_another_status_than_200_still_revokes_its_token(
    signin: SlackStandIn, client_signin: Any, status: int
) -> None:
    token = "xoxp-standin-oidc-other-status"
    body = {"ok": True, "access_token": token, "token_type": "Bearer", "id_token": "e30.e30.e30"}
    signin.fail_next("openid.connect.token", status=status, body=body)
    response = client_signin(Client())
    assert response.status_code == 502 and token.encode() not in response.content
    assert [call.token for call in signin.calls_to("auth.revoke")] == [token]


# --- the claims ---------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["nul\x00@standin.example", "lone\ud800@standin.example"])
def test_a_claim_no_database_can_hold_is_a_sign_in_error_not_a_500(
    signin: SlackStandIn, client_signin: Any, email: str
) -> None:
    response = client_signin(Client(), email=email)
    assert response.status_code == 502
    assert b"<code>unusable_claim</code>" in response.content
    assert get_user_model().objects.count() == 0 and SlackIdentity.objects.count() == 0
    assert len(signin.calls_to("auth.revoke")) == 1


TEXT_CLAIMS = ["email", "name", "given_name", "family_name", CLAIM + "team_name"]
# Any text JSON can carry: lone surrogates (category Cs) and NUL included.
ANY_TEXT = st.text(st.characters(blacklist_categories=())) | st.text("a\x00\ud800\udfff")


PROP_CLAIMS = {"sub": "U0PROP", CLAIM + "user_id": "U0PROP", CLAIM + "team_id": "T0PROP"}
FIELD_OF = {"name": "name", "given_name": "given_name", "family_name": "family_name"}
FIELD_OF[CLAIM + "team_name"] = "team_name"


@given(name=st.sampled_from(TEXT_CLAIMS), value=ANY_TEXT)
def test_every_kept_claim_is_text_the_databases_can_hold(name: str, value: str) -> None:
    claims = {**PROP_CLAIMS, "email_verified": True, name: value}
    try:
        user = _identity(claims)
    except UnusableClaim:
        assert not storable_text(value)
        return
    kept = [user.email, user.name, user.given_name, user.family_name, user.team_name]
    assert all(storable_text(text) for text in kept)


@given(value=ANY_TEXT)
def test_storable_text_is_what_utf8_and_postgresql_take(value: str) -> None:
    try:
        value.encode("utf-8")
        encodable = True
    except UnicodeEncodeError:
        encodable = False
    assert storable_text(value) == (encodable and "\x00" not in value)


NAME_LIMITS = {"name": 255, "given_name": 150, "family_name": 150, CLAIM + "team_name": 255}
STORABLE = st.characters(codec="utf-8", exclude_characters="\x00")  # unusable_claim otherwise
LONG_TEXT = st.text(STORABLE, min_size=140)


@given(name=st.sampled_from(sorted(NAME_LIMITS)), value=LONG_TEXT | st.text(STORABLE, max_size=8))
def test_a_name_claim_is_kept_whole_or_not_at_all(name: str, value: str) -> None:
    kept = getattr(_identity({**PROP_CLAIMS, name: value}), FIELD_OF[name])
    assert kept == (value if len(value) <= NAME_LIMITS[name] else "")


EMAILS = st.emails() | st.builds(
    lambda local, domain: f"{local}@{domain}", LONG_TEXT, st.sampled_from(["corp.example", "x"])
)


@given(email=EMAILS | st.text(STORABLE, max_size=300), verified=st.booleans())
def test_an_email_claim_is_kept_whole_and_valid_or_not_at_all(email: str, verified: bool) -> None:
    user = _identity({**PROP_CLAIMS, "email": email, "email_verified": verified})
    try:
        validate_email(email)
        valid = len(email) <= 254
    except ValidationError:
        valid = False
    assert (user.email, user.email_verified) == ((email, verified) if valid else ("", False))
