"""Where a finished install lands and what it says there: the success page of an app without a
name, the install page opened with ``?next=`` (the way back instead of the sign-in prompt), and
the confirmation the next page receives as a Django message."""

from __future__ import annotations

import html
import secrets
from typing import Any

import pytest
from django.test import Client, RequestFactory
from hypothesis import given, settings
from hypothesis import strategies as st

from installations.exceptions import InvalidInstallRequest
from installations.install.cookie import binding
from installations.install.next_page import clean_next, returning_to
from installations.install.state import StateCheck, issue_state, read_state
from tests.support.flow import Flow, authorize_href, query_of

BACK = "/slack/signin/workspaces"


def text_of(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return html.unescape(response.content.decode())


def install_with_next(flow: Flow, next_page: str, **choices: Any) -> Any:
    """The install page opened with ``next``, approved on the stand-in: the callback's answer."""
    page = flow.client.get("/slack/install", {"next": next_page}, secure=True)
    return flow.back(flow.standin.approve(authorize_href(page), **choices))


def test_the_success_page_of_an_unnamed_app_reads_as_a_success(flow: Flow, settings: Any) -> None:
    settings.SLACK_APP_NAME = ""
    text = text_of(flow.client.get(flow.install()["Location"], secure=True))
    assert "The app is installed in" in text
    assert "not installed" not in text
    assert "No Slack desktop app on this device? " in text


def test_with_next_the_install_page_offers_the_way_back_not_the_sign_in(
    flow: Flow, settings: Any
) -> None:
    settings.SLACK_SIGNIN_ENABLED = True
    plain = text_of(flow.client.get("/slack/install", secure=True))
    assert "Installed it already? Sign in" in plain and 'class="back"' not in plain

    back = text_of(flow.client.get("/slack/install", {"next": BACK}, secure=True))
    assert f'<a href="{BACK}" class="back">Back to My workspaces</a>' in back
    assert "Installed it already?" not in back

    elsewhere = text_of(flow.client.get("/slack/install", {"next": "/host/page"}, secure=True))
    assert '<a href="/host/page" class="back">Go back without installing</a>' in elsewhere


def test_the_next_page_gets_a_message_saying_the_install_worked(flow: Flow, settings: Any) -> None:
    settings.SLACK_APP_NAME = "Acme Standup"
    answer = install_with_next(flow, "/slack/install")  # one of the app's pages, which show them
    assert answer.status_code == 302 and answer["Location"] == "/slack/install"
    landed = text_of(flow.client.get(answer["Location"], secure=True))
    assert '<div role="status"><ul class="messages"><li class="success">' in landed
    assert "Acme Standup is installed in Stand-in Workspace." in landed
    again = text_of(flow.client.get(answer["Location"], secure=True))
    assert "is installed in" not in again  # shown once


def test_without_the_messages_framework_the_redirect_still_works(flow: Flow, settings: Any) -> None:
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "messages" not in m]
    answer = install_with_next(flow, "/slack/install")
    assert answer.status_code == 302 and answer["Location"] == "/slack/install"


def test_the_success_page_itself_gets_no_message(flow: Flow) -> None:
    location = flow.install()["Location"]
    assert "i" in query_of(location)
    text = text_of(flow.client.get(location, secure=True))
    assert 'class="messages"' not in text


@given(
    path=st.sampled_from(["/slack/install", "/p/install", "https://example.test/slack/install"]),
    params=st.lists(
        st.tuples(st.sampled_from(["team", "next", "x"]), st.text(max_size=12)), max_size=4
    ),
    next_page=st.text(min_size=1, max_size=40),
)
def test_returning_to_sets_next_once_and_keeps_the_rest(
    path: str, params: list[tuple[str, str]], next_page: str
) -> None:
    from urllib.parse import parse_qsl, urlencode, urlsplit

    link = path + ("?" + urlencode(params) if params else "")
    result = urlsplit(returning_to(link, next_page))
    pairs = parse_qsl(result.query, keep_blank_values=True)
    assert [value for key, value in pairs if key == "next"] == [next_page]
    kept = parse_qsl(urlsplit(link).query, keep_blank_values=True)
    assert [(k, v) for k, v in pairs if k != "next"] == [(k, v) for k, v in kept if k != "next"]
    assert result.path == urlsplit(link).path and result.netloc == urlsplit(link).netloc


@pytest.mark.django_db
def test_a_client_without_next_sees_no_back_link(client: Client) -> None:
    assert 'class="back"' not in text_of(client.get("/slack/install", secure=True))


# --- a next page always fits in the state that carries it --------------------------------------

LONGEST_TEAM = "T" + "Z" * 31


@settings(max_examples=300, deadline=None)
@given(
    path=st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=0, max_size=400),
    wide=st.sampled_from(["", "é", '"', "\\", "€", "\U0001f600"]),
    repeat=st.integers(min_value=0, max_value=300),
)
def test_every_next_page_the_install_page_accepts_comes_back_whole_in_its_state(
    path: str, wide: str, repeat: int
) -> None:
    request = RequestFactory().get("/slack/install", secure=True)
    value = "/" + (wide * repeat) + path
    try:
        accepted = clean_next(request, value)
    except InvalidInstallRequest:
        return
    state = issue_state(
        LONGEST_TEAM, browser=binding(secrets.token_urlsafe(32)), next_page=accepted, pkce=True
    )
    read = read_state(state)
    assert read.check is StateCheck.LIVE and read.payload is not None
    assert read.payload.next_page == accepted


def test_a_next_page_too_long_once_escaped_is_refused_on_the_install_page(client: Client) -> None:
    fits = client.get("/slack/install", {"next": "/" + "é" * 40}, secure=True)
    assert fits.status_code == 200
    too_long = client.get("/slack/install", {"next": "/" + "é" * 150}, secure=True)
    assert too_long.status_code == 400
    assert "not on this site" in html.unescape(too_long.content.decode())
