"""Request guards and security headers: as middleware for a whole site, and per view.

``RejectNulBytesMiddleware`` answers 400 to a NUL byte (PostgreSQL cannot hold one: a 500
later); ``ContentSecurityPolicyMiddleware`` adds CSP, X-Frame-Options and Referrer-Policy unless
set. ``protected`` gives the app's own views both whatever the host lists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from itertools import chain
from typing import Any

from django.conf import settings
from django.core.exceptions import BadRequest
from django.core.handlers.exception import response_for_exception
from django.http import HttpRequest, HttpResponse, HttpResponseBase

NUL = "\x00"


def holds_nul(request: HttpRequest) -> bool:
    """Whether the path, a query parameter (name or value) or a cookie holds a NUL byte."""
    query = [text for key, values in request.GET.lists() for text in (key, *values)]
    texts = chain([request.path], query, request.COOKIES.keys(), request.COOKIES.values())
    return any(NUL in text for text in texts)


def nul_refusal(request: HttpRequest) -> HttpResponse | None:
    """Django's own 400 page when ``holds_nul`` finds a NUL byte, else None."""
    if not holds_nul(request):
        return None
    refusal = BadRequest("a NUL byte in the path, a query parameter or a cookie")
    return response_for_exception(request, refusal)


class RejectNulBytesMiddleware:
    """Answers 400 (Django's own bad-request page) when ``holds_nul`` finds a NUL byte."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return nul_refusal(request) or self.get_response(request)


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
DEFAULT_REFERRER_POLICY = "same-origin"


@dataclass(frozen=True)
class SecurityHeaders:
    """The header values, from the settings: ``CSP_POLICY`` (a dict, as ``DEFAULT_POLICY``) and
    Django's own ``SECURE_REFERRER_POLICY`` (a string or a list, as SecurityMiddleware reads it)."""

    csp: str
    referrer_policy: str

    @classmethod
    def from_settings(cls) -> SecurityHeaders:
        referrer = getattr(settings, "SECURE_REFERRER_POLICY", None) or DEFAULT_REFERRER_POLICY
        if not isinstance(referrer, str):
            referrer = ",".join(referrer)
        policy = getattr(settings, "CSP_POLICY", DEFAULT_POLICY)
        csp = "; ".join(f"{name} {value}" for name, value in policy.items())
        return cls(csp=csp, referrer_policy=referrer)


def add_security_headers(response: HttpResponseBase, headers: SecurityHeaders) -> None:
    """CSP, X-Frame-Options and Referrer-Policy, each unless the response set its own (a view
    marked ``xframe_options_exempt`` is left frameable, as Django's middleware leaves it)."""
    response.headers.setdefault("Content-Security-Policy", headers.csp)
    if not getattr(response, "xframe_options_exempt", False):
        response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", headers.referrer_policy)


class ContentSecurityPolicyMiddleware:
    """Adds ``add_security_headers`` to every response (first in MIDDLEWARE: every answer)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.headers = SecurityHeaders.from_settings()

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        add_security_headers(response, self.headers)
        return response


View = Callable[..., HttpResponseBase]


def protected(view: View) -> View:
    """The view behind the NUL guard, answering with the security headers whatever it answers:
    its exceptions become the host's error pages here, so those carry the headers too."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            response = nul_refusal(request) or view(request, *args, **kwargs)
        except Exception as exc:
            response = response_for_exception(request, exc)
        add_security_headers(response, SecurityHeaders.from_settings())
        return response

    return wrapper
