"""The flow's page paths follow the URLconf (the setting or the request's own) and the script
prefix: the install cookie's Path is the install page's (installations/install/cookie.py)."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import set_script_prefix, set_urlconf

from installations.install.cookie import install_cookie_path


def test_paths_follow_the_script_prefix_and_the_request_urlconf() -> None:
    try:
        set_script_prefix("/mounted/")
        assert install_cookie_path() == "/mounted/slack/install"
        set_urlconf("tests.support.urls_flow_elsewhere")
        assert install_cookie_path() == "/mounted/elsewhere/slack/install"
    finally:
        set_urlconf(None)
        set_script_prefix("/")
    assert install_cookie_path() == "/slack/install"


def test_the_install_page_cookie_path_under_another_urlconf(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.support.urls_flow_elsewhere"
    assert install_cookie_path() == "/elsewhere/slack/install"
    page = Client().get("/elsewhere/slack/install")
    assert page.status_code == 200
    assert page.cookies["slack-app-oauth-browser"]["path"] == "/elsewhere/slack/install"
