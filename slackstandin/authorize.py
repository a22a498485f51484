"""The authorize step: validate the request, then approve (code) or cancel (access_denied).

docs.slack.dev/authentication/installing-with-oauth: success redirects to
``{redirect_uri}?code=...&state=...``; Cancel redirects with ``error=access_denied`` and an
``error_description``. Errors such as ``invalid_client_id`` are shown on Slack's own page.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

from . import pkce
from .state import DEFAULT_ENTERPRISE_ID, DEFAULT_TEAM_ID, Grant, StandInState, new_hex

DENIED_DESCRIPTION = (
    "The user has denied access to the scope(s) requested by the client application."
)


class AuthorizeError(ValueError):
    """The authorize request is one Slack would refuse on its own page."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Choices:
    """The scenario the user picked on the authorize page. What is issued follows the scopes
    asked for, as on Slack: a user token only for ``user_scope``, a webhook (into
    ``webhook_channel``) only for the ``incoming-webhook`` scope."""

    org_wide: bool = False
    webhook_channel: str = "#general"
    rotation: bool = False
    team_id: str | None = None
    enterprise_id: str | None = None


def query_params(url_or_query: str) -> dict[str, str]:
    """Query parameters of an authorize URL (or of a bare query string)."""
    query = urlsplit(url_or_query).query if "?" in url_or_query else url_or_query
    return dict(parse_qsl(query, keep_blank_values=True))


def check(params: dict[str, str], client_id: str) -> None:
    """Raise AuthorizeError with Slack's code when the request cannot be approved."""
    if params.get("client_id") != client_id:
        raise AuthorizeError("invalid_client_id")
    redirect_uri = params.get("redirect_uri", "")
    parts = urlsplit(redirect_uri)
    # The stand-in has no app settings to fall back on, so it needs an absolute redirect_uri.
    if not redirect_uri or "#" in redirect_uri or parts.scheme not in ("http", "https"):
        raise AuthorizeError("bad_redirect_uri")
    if not params.get("scope") and not params.get("user_scope"):
        raise AuthorizeError("invalid_scope")
    challenge(params)


def challenge(params: dict[str, str]) -> pkce.Challenge | None:
    """The request's PKCE challenge (None without one); a malformed one is refused as an
    OAuth ``invalid_request`` (RFC 7636 §4.4.1)."""
    try:
        return pkce.challenge_from(params)
    except pkce.BadChallenge:
        raise AuthorizeError("invalid_request") from None


def redirect_to(redirect_uri: str, values: dict[str, str]) -> str:
    """Append properly encoded query values to the app's redirect URI."""
    separator = "&" if "?" in redirect_uri else "?"
    return redirect_uri + separator + urlencode(values)


def approve(state: StandInState, params: dict[str, str], client_id: str, choices: Choices) -> str:
    """Issue a single-use code and return the redirect URL the browser would follow."""
    check(params, client_id)
    enterprise_id = choices.enterprise_id or (DEFAULT_ENTERPRISE_ID if choices.org_wide else None)
    team_id = (
        None if choices.org_wide else (choices.team_id or params.get("team") or DEFAULT_TEAM_ID)
    )
    grant = Grant(
        code=f"standin-code-{new_hex(16)}",
        client_id=client_id,
        redirect_uri=params["redirect_uri"],
        scope=params.get("scope", ""),
        user_scope=params.get("user_scope", ""),
        org_wide=choices.org_wide,
        webhook_channel=choices.webhook_channel or "#general",
        rotation=choices.rotation,
        team_id=team_id,
        enterprise_id=enterprise_id,
        code_challenge=challenge(params),
    )
    with state.lock:
        state.grants[grant.code] = grant
    values = {"code": grant.code}
    if "state" in params:
        values["state"] = params["state"]
    return redirect_to(params["redirect_uri"], values)


def cancel(params: dict[str, str], client_id: str) -> str:
    """The redirect URL after the user pressed Cancel."""
    check(params, client_id)
    values = {"error": "access_denied"}
    if "state" in params:
        values["state"] = params["state"]
    values["error_description"] = DENIED_DESCRIPTION
    return redirect_to(params["redirect_uri"], values)
