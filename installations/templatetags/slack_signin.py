"""Template tags for Sign in with Slack: ``{% load slack_signin %}``.

``{% slack_signin_button %}`` draws the button (nothing at all when sign-in is off or its URLs
are not included), so a page can carry it without knowing whether the host wants sign-in;
``{% slack_signin as signin %}`` gives ``signin.enabled`` and ``signin.password_login`` (the
admin login page uses them).

The start URL is reversed once per URLconf and script prefix in a process (the install page
renders the button on every visit) and forgotten whenever a setting changes.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.http import urlencode

from installations.signin.conf import signin_config

register = template.Library()


# (URLconf of the request, script prefix) -> the start path, or None: not included.
_reversed: dict[tuple[Any, str], str | None] = {}


@receiver(setting_changed)
def _forget_reversed(**kwargs: Any) -> None:
    _reversed.clear()


def _start_path() -> str | None:
    key = (get_urlconf(), get_script_prefix())
    if key not in _reversed:
        try:
            _reversed[key] = reverse("slack_signin:start")
        except NoReverseMatch:  # the host did not include installations.signin.urls
            _reversed[key] = None
    return _reversed[key]


def _start_url(next_url: str) -> str | None:
    url = _start_path()
    if url is None:
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
