"""The front door and the app's branding: "/" leads to the install page, and the configured name,
description, icon, privacy and support links show on the install, success and error pages and in
the admin's titles. Error pages say how to reach support."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin import AdminSite
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse
from django.utils import translation

from installations.conf import branding

pytestmark = pytest.mark.django_db

BRAND = {
    "SLACK_APP_NAME": "Acme Standup",
    "SLACK_APP_DESCRIPTION": "Daily standups in your Slack channels.",
    "SLACK_APP_PRIVACY_URL": "https://acme.example/privacy",
    "SLACK_APP_SUPPORT_URL": "mailto:help@acme.example",
}


@pytest.fixture
def branded(settings: Any) -> None:
    for name, value in BRAND.items():
        setattr(settings, name, value)


def text_of(response: Any) -> str:
    return html.unescape(response.content.decode())


def test_the_front_door_leads_to_the_install_page() -> None:
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("installations:install")


def test_the_admins_view_site_link_reaches_the_install_page(admin_client: Any) -> None:
    index = text_of(admin_client.get("/admin/"))
    assert 'href="/"' in index  # "View site"
    assert Client().get("/", follow=True, secure=True).status_code == 200


def test_install_page_shows_name_description_icon_and_links(branded: None) -> None:
    page = text_of(Client().get("/slack/install", secure=True))
    assert "<title>Add to Slack · Acme Standup</title>" in page
    assert "Add Acme Standup to Slack" in page
    assert "Daily standups in your Slack channels." in page
    assert 'href="https://acme.example/privacy"' in page
    assert 'href="mailto:help@acme.example"' in page
    assert '<link rel="icon" href="/static/installations/icon.svg">' in page
    assert '<img src="/static/installations/icon.svg"' in page


def test_unbranded_pages_read_naturally() -> None:
    page = text_of(Client().get("/slack/install", secure=True))
    assert "Add the app to Slack" in page
    assert "Privacy policy" not in page  # no link without a setting


def test_error_pages_say_how_to_reach_support(branded: None) -> None:
    page = Client().get("/slack/oauth_redirect?state=forged&code=x", secure=True)
    assert page.status_code == 400
    text = text_of(page)
    assert "Acme Standup" in text
    assert "Need help? Write to" in text and "help@acme.example" in text
    assert "Reference:" in text


def test_error_pages_without_a_support_setting_still_say_whom_to_ask() -> None:
    text = text_of(Client().get("/slack/oauth_redirect?state=forged&code=x", secure=True))
    assert "Need help? Contact the people who gave you the link" in text


def test_the_sites_own_error_pages_carry_branding_and_support(branded: None, settings: Any) -> None:
    settings.DEBUG = False
    response = Client().get("/no-such-page", secure=True)
    assert response.status_code == 404
    text = text_of(response)
    assert "Acme Standup" in text and "help@acme.example" in text
    assert '<link rel="icon"' in text


def test_the_admin_is_titled_after_the_app(branded: None, admin_client: Any) -> None:
    text = text_of(admin_client.get("/admin/"))
    assert "Acme Standup installations" in text
    assert "Django administration" not in text


def test_the_favicon_is_a_static_file_of_the_app() -> None:
    path = finders.find("installations/icon.svg")
    assert path is not None
    with open(path, encoding="utf-8") as svg:
        assert svg.read().startswith("<svg")


@pytest.mark.parametrize(
    "value", ["javascript:alert(1)", "data:text/html,x", "  JAVASCRIPT:alert(1)", "ftp://x"]
)
def test_only_web_and_mail_links_are_used(settings: Any, value: str) -> None:
    settings.SLACK_APP_SUPPORT_URL = value
    settings.SLACK_APP_PRIVACY_URL = value
    assert branding().support_url == "" and branding().privacy_url == ""


@pytest.mark.parametrize("value", ["https://cdn.example/icon.png", "//cdn.example/i.png"])
def test_an_icon_from_another_site_is_replaced_by_the_default(settings: Any, value: str) -> None:
    settings.SLACK_APP_ICON = value  # the CSP allows same-origin images only
    assert branding().icon == "installations/icon.svg"


def test_a_host_admin_keeps_its_own_titles_unless_it_opts_in(
    branded: None, admin_client: Any, settings: Any
) -> None:
    settings.SLACK_ADMIN_TITLES = False
    text = text_of(admin_client.get("/admin/"))
    assert "Django administration" in text
    assert "Acme Standup installations" not in text


def test_a_host_admin_title_is_translated_when_the_page_is_drawn(settings: Any) -> None:
    settings.SLACK_ADMIN_TITLES = False
    with translation.override("de"):
        header, title = str(admin.site.site_header), str(admin.site.site_title)
        assert (header, title) == (str(AdminSite.site_header), str(AdminSite.site_title))
        assert header != "Django administration"  # Django's German words, not English ones
