"""The flow's page paths are reversed once per URLconf and script prefix (issue 15) and still
follow the URLconf, the prefix and a settings change (installations/install/flow_paths.py)."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse, set_script_prefix, set_urlconf

from installations.install import flow_paths
from installations.install.cookie import install_cookie_path
from installations.install.flow_paths import flow_path


def test_a_path_is_reversed_once_and_is_what_reverse_gives() -> None:
    first = flow_path("installations:installed")
    assert first == reverse("installations:installed")
    count = len(flow_paths._paths)
    assert flow_path("installations:installed") == first
    assert len(flow_paths._paths) == count  # nothing reversed the second time


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


def test_a_settings_change_forgets_the_paths(settings: Any) -> None:
    flow_path("installations:install")
    assert flow_paths._paths
    settings.ROOT_URLCONF = "tests.support.urls_flow_elsewhere"
    assert not flow_paths._paths
    assert install_cookie_path() == "/elsewhere/slack/install"


def test_the_install_page_cookie_path_under_another_urlconf(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.support.urls_flow_elsewhere"
    page = Client().get("/elsewhere/slack/install")
    assert page.status_code == 200
    assert page.cookies["slack-app-oauth-browser"]["path"] == "/elsewhere/slack/install"
