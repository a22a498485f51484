"""The optional page to send someone to after a successful install (``?next=`` on the install page).

It travels inside the signed state and is checked with ``url_has_allowed_host_and_scheme`` when
the install page opens (400 for an unsafe value) and again before redirecting: only this site's
own pages qualify, so the success redirect is never an open redirect. Its length is counted as
the state carries it (JSON, so ``é`` takes six characters and ``"`` two): a page accepted here
always fits in a state the callback reads back (``state.MAX_STATE_LENGTH``).
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

from installations.exceptions import InvalidInstallRequest

MAX_NEXT_LENGTH = 300  # characters as the state's JSON carries them


def length_in_state(value: str) -> int:
    """How many characters ``value`` takes inside the state's JSON, quotes left out."""
    return len(json.dumps(value)) - 2


def is_safe_next(request: HttpRequest, value: str) -> bool:
    return (
        0 < length_in_state(value) <= MAX_NEXT_LENGTH
        and value.isprintable()
        and url_has_allowed_host_and_scheme(
            value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    )


def clean_next(request: HttpRequest, value: str | None) -> str:
    """``""`` for no next page, the value when it is one of this site's pages, else
    InvalidInstallRequest."""
    if value is None or value == "":
        return ""
    if not is_safe_next(request, value):
        raise InvalidInstallRequest(
            "The page to return to after installing is not on this site.", reason="unsafe_next"
        )
    return value


def returning_to(link: str, next_page: str) -> str:
    """The install page's ``link`` with ``next`` set: the page then offers the way back to
    ``next_page`` instead of the sign-in prompt, and a finished install lands there."""
    scheme, netloc, path, query, fragment = urlsplit(link)
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "next"]
    return urlunsplit((scheme, netloc, path, urlencode([*kept, ("next", next_page)]), fragment))
