"""Template tags for Sign in with Slack: ``{% slack_signin_button %}`` draws the button (or
nothing when sign-in is off); ``{% slack_signin as signin %}`` gives ``enabled`` and
``password_login``.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode

from installations.signin.conf import signin_config

register = template.Library()


def _start_url(next_url: str) -> str | None:
    try:
        url = reverse("slack_signin:start")
    except NoReverseMatch:  # the host did not include installations.signin.urls
        return None
    return url + ("?" + urlencode({"next": next_url}) if next_url else "")


@register.simple_tag
def slack_signin(next_url: str = "") -> dict[str, Any]:
    config = signin_config()
    start = _start_url(next_url) if config.enabled else None
    return {
        "enabled": start is not None,
        "password_login": start is None or config.password_login,
        "start_url": start or "",
    }


@register.inclusion_tag("installations/signin/button.html")
def slack_signin_button(next_url: str = "") -> dict[str, Any]:
    return slack_signin(next_url)
