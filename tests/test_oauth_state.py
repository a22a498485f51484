"""The state: single use, expiry, browser binding (security-checklist tests 12 to 17 and 19)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from installations.models import Installation, OAuthState, Workspace
from installations.oauth_state import (
    StateCheck,
    check_state,
    consume_state,
    hash_state,
    issue_state,
    purge_expired_states,
)
from installations.state_cookie import COOKIE_NAME
from tests.fixtures_flow import Flow, query_of


def expire(state: str) -> None:
    OAuthState.objects.filter(state_hash=hash_state(state)).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )


@pytest.mark.django_db
def test_a_state_is_consumed_once() -> None:
    state = issue_state()
    assert check_state(state) is StateCheck.LIVE
    assert consume_state(state) is True
    assert consume_state(state) is False
    assert check_state(state) is StateCheck.UNKNOWN


@pytest.mark.django_db
def test_an_expired_state_cannot_be_consumed_and_its_row_goes() -> None:
    state = issue_state()
    expire(state)
    assert consume_state(state) is False
    assert check_state(state) is StateCheck.EXPIRED
    assert OAuthState.objects.count() == 0


@pytest.mark.django_db
def test_purge_deletes_only_expired_states() -> None:
    live, stale = issue_state(), issue_state()
    expire(stale)
    assert purge_expired_states() == 1
    assert check_state(live) is StateCheck.LIVE


@pytest.mark.django_db(transaction=True)
def test_concurrent_consumes_have_exactly_one_winner() -> None:
    state = issue_state()
    barrier = threading.Barrier(6)
    results: list[bool] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(consume_state(state))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True]


# --- through the callback ------------------------------------------------------------------


def test_mismatched_cookie_is_refused_and_consumes_neither_state(flow: Flow) -> None:
    """Cookie holds S1 (this browser's flow), the query carries S2 (another browser's)."""
    mine = flow.start()
    other_browser = Flow(flow.standin, Client())
    theirs = other_browser.start()
    response = flow.back(flow.standin.approve(theirs))
    assert response.status_code == 400
    assert b"invalid_browser" in response.content
    assert flow.standin.calls_to("oauth.v2.access") == []
    assert OAuthState.objects.count() == 2
    # This browser's cookie is left alone, so its own flow can still finish.
    assert COOKIE_NAME not in response.cookies
    assert flow.back(flow.standin.approve(mine)).status_code == 302


def test_missing_cookie_is_refused(flow: Flow) -> None:
    redirect = flow.standin.approve(flow.start())
    response = flow.back(redirect, client=Client())
    assert response.status_code == 400
    body = response.content.decode()
    assert "missing_cookie" in body and "https" in body
    assert flow.standin.calls_to("oauth.v2.access") == []
    assert OAuthState.objects.count() == 1


def test_unknown_state_is_refused(flow: Flow) -> None:
    flow.client.cookies[COOKIE_NAME] = "never-issued"
    response = flow.client.get(
        "/slack/oauth_redirect", {"state": "never-issued", "code": "c"}, secure=True
    )
    assert response.status_code == 400
    assert b"invalid_state" in response.content
    assert flow.standin.calls == []


def test_expired_state_is_refused_and_deleted(flow: Flow) -> None:
    url = flow.start()
    expire(query_of(url)["state"])
    response = flow.back(flow.standin.approve(url))
    assert response.status_code == 400
    assert b"expired_state" in response.content
    assert b"expired" in response.content
    assert OAuthState.objects.count() == 0
    assert flow.standin.calls_to("oauth.v2.access") == []


def test_reload_after_success_says_the_link_was_used(flow: Flow) -> None:
    redirect = flow.standin.approve(flow.start())
    first = flow.back(redirect)
    assert first.status_code == 302
    # A reload resends the same URL; the browser still had (or dropped) the cookie.
    again = flow.back(redirect)
    assert again.status_code == 400
    assert b"already used" in again.content
    assert b"Traceback" not in again.content
    state = query_of(redirect)["state"]
    flow.client.cookies[COOKIE_NAME] = state  # even with the cookie back, no second exchange
    assert flow.back(redirect).status_code == 400
    assert len(flow.standin.calls_to("oauth.v2.access")) == 1
    assert Installation.objects.count() == 1


def test_quoted_cookie_value_still_matches(flow: Flow) -> None:
    redirect = flow.standin.approve(flow.start())
    state = query_of(redirect)["state"]
    parts = redirect.split("/slack/oauth_redirect", 1)[1]
    response = Client().get(
        "/slack/oauth_redirect" + parts, secure=True, HTTP_COOKIE=f'{COOKIE_NAME}="{state}"'
    )
    assert response.status_code == 302


def test_a_login_between_start_and_callback_does_not_break_the_flow(flow: Flow) -> None:
    """The state lives in its own cookie, not the session: a login (cycle_key()) keeps it."""
    from django.contrib.auth import get_user_model

    redirect = flow.standin.approve(flow.start())
    flow.client.force_login(get_user_model().objects.create_user("someone"))
    assert flow.back(redirect).status_code == 302


@pytest.mark.django_db(transaction=True)
def test_two_callbacks_with_one_state_at_once(flow_tx: Flow) -> None:
    flow_tx.standin.fail_next("oauth.v2.access", delay=0.3)  # keep the winner busy at Slack
    redirect = flow_tx.standin.approve(flow_tx.start())
    cookie = flow_tx.state_cookie()
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def browser() -> None:
        client = Client()
        client.cookies[COOKIE_NAME] = cookie or ""
        try:
            barrier.wait()
            statuses.append(flow_tx.back(redirect, client=client).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=browser) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [302, 400]
    assert len(flow_tx.standin.calls_to("oauth.v2.access")) == 1
    assert Workspace.objects.count() == 1
    assert Installation.objects.count() == 1
