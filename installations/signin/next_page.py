"""The local page to land on after signing in (``?next=``): checked, and carried across the trip
to Slack in a cookie.

Only this site's own paths qualify (never another host, ``//host`` or a scheme), of text every
encoder takes. A cookie goes out in a ``Set-Cookie`` header, which a WSGI server must encode as
Latin-1 (PEP 3333): ``/€`` as it is would fail there, before any answer leaves. So the cookie
holds the page percent-encoded (its UTF-8 bytes, every one outside RFC 3986's unreserved
characters as ``%XX``): plain ASCII of the characters a cookie value may hold unquoted, whatever
the page. The callback decodes it and checks it again; a value that does not decode is no page.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

from installations.slack.answers import storable_text

MAX_LENGTH = 1000  # characters of the page, as given
# Its cookie form: browsers drop a cookie over 4096 bytes (name, value and attributes together).
MAX_COOKIE_LENGTH = 3000


def safe_next(request: HttpRequest, value: str | None) -> str:
    """A local path to land on after signing in, or "" (never another site, never a value the
    cookie could not carry whole)."""
    if not value or len(value) > MAX_LENGTH or not value.startswith("/") or value.startswith("//"):
        return ""
    if not storable_text(value) or len(as_cookie(value)) > MAX_COOKIE_LENGTH:
        return ""
    allowed = url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return value if allowed else ""


def as_cookie(page: str) -> str:
    """``page`` as a cookie value: ASCII letters, digits, ``-._~`` and ``%XX`` only."""
    return quote(page, safe="", encoding="utf-8", errors="strict")


def from_cookie(value: str | None) -> str | None:
    """The page ``as_cookie`` encoded, or None when ``value`` is not its UTF-8 percent-encoding
    (the caller still checks the page with ``safe_next``)."""
    if not value:
        return None
    try:
        return unquote(value, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        return None
