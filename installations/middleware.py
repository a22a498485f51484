"""Middleware of the app: request guards and security headers, for every view.

``RejectNulBytesMiddleware`` refuses with 400 what no view or database can use.

PostgreSQL cannot store or compare text holding a NUL byte (psycopg raises ``ValueError``), so a
NUL in a query parameter, a cookie or the path would otherwise surface as a 500 from whichever
query first touches it (admin filters and searches, the session lookup). Django's form fields
already refuse NUL (``ProhibitNullCharactersValidator``); raw ``request.GET`` values and cookies
are not forms, so the rule is applied here, once, for every view.

``ContentSecurityPolicyMiddleware`` sends the header Django 5.2 does not send itself: a
Content-Security-Policy on every response.

Django's SecurityMiddleware already sends HSTS, nosniff, Referrer-Policy and
Cross-Origin-Opener-Policy, and XFrameOptionsMiddleware sends ``X-Frame-Options: DENY``; CSP
``frame-ancestors 'none'`` is the modern form of the latter (RFC 9700 section 4.16). Our pages
and the admin load scripts, styles and images from this origin only; styles may be inline
because the install pages carry a small ``<style>`` block. The Add to Slack button is a plain
link to Slack's authorize page, which CSP does not restrict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse

NUL = "\x00"


def _any_nul(values: Iterable[str]) -> bool:
    return any(NUL in value for value in values)


def _raw_may_hold_nul(request: HttpRequest) -> bool:
    """Whether the raw query string or Cookie header could decode to text holding a NUL.

    A parsed query parameter holds NUL only from a literal NUL or ``%00`` in the query string,
    and a parsed cookie only from a literal NUL or a backslash escape (``"\\000"``, which
    ``http.cookies`` unquotes). Most requests have neither, and then the parsed values need not
    be walked (a few percent of a small page, issue 15). Values parsed already (by a middleware
    before this one, which may have changed them) are always walked."""
    if "GET" in request.__dict__ or "COOKIES" in request.__dict__:
        return True
    query = request.META.get("QUERY_STRING", "")
    cookie = request.META.get("HTTP_COOKIE", "")
    if not isinstance(query, str) or not isinstance(cookie, str):
        return True
    return NUL in query or "%00" in query or NUL in cookie or "\\" in cookie


def holds_nul(request: HttpRequest) -> bool:
    """Whether the path, a query parameter (name or value) or a cookie holds a NUL byte."""
    if NUL in request.path:
        return True
    if not _raw_may_hold_nul(request):
        return False
    query = request.GET
    if _any_nul(query.keys()) or any(_any_nul(query.getlist(key)) for key in query):
        return True
    return _any_nul(request.COOKIES.keys()) or _any_nul(request.COOKIES.values())


class RejectNulBytesMiddleware:
    """Answers 400 (Django's own bad-request page) when ``holds_nul`` finds a NUL byte."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if holds_nul(request):
            raise BadRequest("a NUL byte in the path, a query parameter or a cookie")
        return self.get_response(request)


DEFAULT_POLICY: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def policy_header(policy: dict[str, str]) -> str:
    return "; ".join(f"{name} {value}" for name, value in policy.items())


class ContentSecurityPolicyMiddleware:
    """Adds ``Content-Security-Policy`` unless the view set its own (``settings.CSP_POLICY``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.header = policy_header(getattr(settings, "CSP_POLICY", DEFAULT_POLICY))

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.header
        return response
