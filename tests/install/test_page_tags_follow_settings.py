"""The branding and sign-in tags follow a settings change, the script prefix and the URLconf."""

from __future__ import annotations

from typing import Any

from django.template import Context, Template
from django.templatetags.static import static
from django.test import override_settings
from django.urls import set_script_prefix, set_urlconf

from installations.templatetags import installations_branding


def _render(text: str) -> str:
    return Template(text).render(Context({}))


BRAND = (
    "{% load installations_branding %}{% branding as brand %}"
    "{{ brand.app_name }}|{{ brand.icon_url }}"
)
SIGNIN = '{% load slack_signin %}{% slack_signin "/next" as s %}{{ s.enabled }}|{{ s.start_url }}'


def test_branding_follows_a_settings_change(settings: Any) -> None:
    settings.SLACK_APP_NAME = "First name"
    assert _render(BRAND).startswith("First name|")
    settings.SLACK_APP_NAME = "Second name"
    assert _render(BRAND).startswith("Second name|")
    settings.SLACK_APP_ICON = "/media/own-icon.png"
    assert _render(BRAND).endswith("|/media/own-icon.png")


def test_branding_under_each_script_prefix_is_what_static_gives_there(settings: Any) -> None:
    settings.STATIC_URL = "static/"  # relative: Django puts the script prefix in front
    try:
        for prefix in ("/one/", "/", "/two/"):
            set_script_prefix(prefix)
            assert installations_branding.branding().icon_url == static("installations/icon.svg")
    finally:
        set_script_prefix("/")


def test_signin_start_url_follows_the_script_prefix(settings: Any) -> None:
    settings.SLACK_SIGNIN_ENABLED = True
    assert _render(SIGNIN).startswith("True|/slack/signin/start?next=%2Fnext")
    try:
        set_script_prefix("/sub/")
        assert _render(SIGNIN).startswith("True|/sub/slack/signin/start?")
    finally:
        set_script_prefix("/")


def test_signin_without_its_urls_draws_no_button_even_after_a_render_with_them(
    settings: Any,
) -> None:
    settings.SLACK_SIGNIN_ENABLED = True
    assert _render(SIGNIN).startswith("True|")
    try:
        set_urlconf("tests.support.urls_without_signin")  # a request's own URLconf
        assert _render(SIGNIN) == "False|"
    finally:
        set_urlconf(None)
    with override_settings(ROOT_URLCONF="tests.support.urls_without_signin"):
        assert _render(SIGNIN) == "False|"
    assert _render(SIGNIN).startswith("True|")
