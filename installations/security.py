"""Security headers Django 5.2 does not send itself: a Content-Security-Policy on every response.

Django's SecurityMiddleware already sends HSTS, nosniff, Referrer-Policy and
Cross-Origin-Opener-Policy, and XFrameOptionsMiddleware sends ``X-Frame-Options: DENY``; CSP
``frame-ancestors 'none'`` is the modern form of the latter (RFC 9700 section 4.16,
security-checklist test 43). Our pages and the admin load scripts, styles and images from this
origin only; styles may be inline because the install pages carry a small ``<style>`` block.
The Add to Slack button is a plain link to Slack's authorize page, which CSP does not restrict.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

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
