"""The state: signed and self-expiring, single use, bound to the browser (docs/security.md).

Unit tests of ``oauth_state`` first (including hypothesis properties of the parser), then the
same rules through the callback.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core import signing
from django.db import OperationalError, connection, transaction
from django.test import Client
from django.utils import timezone
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from installations.install import state as state_module
from installations.install.cookie import COOKIE_NAME, INSTALL_COOKIE_NAME, binding
from installations.install.flow import TEAM_ID, authorize_url
from installations.install.state import (
    BOLT_SALT,
    INSTALL_SALT,
    MAX_STATE_LENGTH,
    PURGE_EVERY,
    SEPARATOR,
    PurgeClock,
    StateCheck,
    consume_state,
    hash_state,
    issue_state,
    purge_expired_states,
    read_state,
)
from installations.models import Installation, OAuthState, Workspace
from tests.support.flow import Flow, StateClock, authorize_href, query_of
from tests.support.lifecycle import run_at_once

FAST = hypothesis_settings(max_examples=200, deadline=None, derandomize=True)
BROWSER = binding("b" * 43)


def spend(state: str) -> bool:
    found = read_state(state)
    assert found.payload is not None
    return consume_state(state, found.payload)


# --- the state itself -----------------------------------------------------------------------


@pytest.mark.django_db
def test_issuing_writes_nothing_and_a_state_is_spent_once() -> None:
    state = issue_state(browser=BROWSER)
    assert OAuthState.objects.count() == 0
    assert read_state(state).check is StateCheck.LIVE
    assert spend(state) is True
    assert spend(state) is False
    row = OAuthState.objects.get()
    assert row.state_hash == hash_state(state)
    payload = read_state(state).payload
    assert payload is not None and row.expires_at == payload.expires_at


@pytest.mark.django_db
def test_a_state_carries_its_expiry_team_and_browser() -> None:
    now = timezone.now().replace(microsecond=0)
    found = read_state(issue_state("T0ABC123", browser=BROWSER, ttl_seconds=300, now=now))
    assert found.check is StateCheck.LIVE and found.payload is not None
    assert found.payload.issued_at == now
    assert found.payload.expires_at == now + timedelta(seconds=300)
    assert (found.payload.team_hint, found.payload.browser) == ("T0ABC123", BROWSER)


def test_an_expired_state_reads_expired_whatever_was_stored() -> None:
    past = timezone.now() - timedelta(seconds=601)
    state = issue_state(browser=BROWSER, ttl_seconds=600, now=past)
    assert read_state(state).check is StateCheck.EXPIRED
    assert read_state(state, now=past).check is StateCheck.LIVE


@pytest.mark.django_db
def test_purge_deletes_only_spent_states_past_their_expiry() -> None:
    live = issue_state(browser=BROWSER)
    old = issue_state(browser=BROWSER, now=timezone.now() - timedelta(seconds=30), ttl_seconds=60)
    assert spend(live) and spend(old)
    assert purge_expired_states(now=timezone.now() + timedelta(seconds=31)) == 1
    assert list(OAuthState.objects.values_list("state_hash", flat=True)) == [hash_state(live)]


def expired_records(count: int, start: int = 0) -> None:
    OAuthState.objects.bulk_create(
        OAuthState(state_hash=f"{i:064x}", expires_at=timezone.now() - timedelta(seconds=1))
        for i in range(start, start + count)
    )


@pytest.mark.django_db
def test_spending_purges_expired_records_at_most_once_a_minute(monkeypatch: Any) -> None:
    monkeypatch.setattr(state_module, "_purge_clock", PurgeClock(PURGE_EVERY))  # a new process
    expired_records(20)
    assert spend(issue_state(browser=BROWSER))
    assert OAuthState.objects.count() == 1  # the first spend of a process purges
    expired_records(5, start=20)
    assert spend(issue_state(browser=BROWSER))
    assert OAuthState.objects.count() == 7  # within the minute: left for a later purge
    later = timezone.now() + PURGE_EVERY
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert spend(issue_state(browser=BROWSER, now=later))
    assert OAuthState.objects.count() == 3  # a minute on: the three spent states, all live


@pytest.mark.django_db(transaction=True)
def test_a_purge_that_fails_spends_nothing(monkeypatch: Any) -> None:
    """The purge runs before the INSERT: a database refusing it leaves the state unspent."""
    monkeypatch.setattr(state_module, "_purge_clock", PurgeClock(PURGE_EVERY))  # purge due
    state = issue_state(browser=BROWSER)

    def refuse_purge(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith("DELETE"):
            raise OperationalError("the database refused the purge")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse_purge), pytest.raises(OperationalError):
        spend(state)
    assert not OAuthState.objects.exists()
    monkeypatch.setattr(state_module, "_purge_clock", PurgeClock(PURGE_EVERY))
    assert spend(state)  # the same state, once the database answers again


@given(
    st.lists(st.integers(min_value=-3600, max_value=3600), min_size=1, max_size=30),
)
@FAST
def test_the_purge_clock_is_due_once_per_interval_and_after_a_clock_set_back(
    offsets: list[int],
) -> None:
    clock = PurgeClock(PURGE_EVERY)
    start = timezone.now()
    last_due = None
    for offset in offsets:
        now = start + timedelta(seconds=offset)
        due = clock.due(now)
        waited = last_due is not None and timedelta(0) <= now - last_due < PURGE_EVERY
        assert due is not waited, (last_due, now)
        if due:
            last_due = now


@pytest.mark.django_db(transaction=True)
def test_a_spend_inside_a_transaction_leaves_it_usable_when_the_state_was_spent() -> None:
    """A duplicate is refused inside a savepoint: no error, the caller's work goes on."""
    state = issue_state(browser=BROWSER)
    with transaction.atomic():
        assert spend(state) is True
        assert spend(state) is False
        assert OAuthState.objects.count() == 1  # the transaction still runs statements
    assert spend(state) is False


def test_a_changed_character_anywhere_makes_it_invalid() -> None:
    state = issue_state(browser=BROWSER)
    for position in range(len(state)):
        if state[position] == SEPARATOR:
            continue
        changed = (
            state[:position] + ("A" if state[position] != "A" else "B") + state[position + 1 :]
        )
        assert read_state(changed).check is StateCheck.INVALID, position


def test_states_of_bolt_and_of_the_install_page_are_not_interchangeable() -> None:
    assert read_state(issue_state(salt=BOLT_SALT), salt=INSTALL_SALT).check is StateCheck.INVALID
    assert read_state(issue_state(browser=BROWSER), salt=BOLT_SALT).check is StateCheck.INVALID


def test_a_state_signed_with_a_retired_secret_key_still_reads(settings: Any) -> None:
    state = issue_state(browser=BROWSER)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    assert read_state(state).check is StateCheck.LIVE
    settings.SECRET_KEY_FALLBACKS = []
    assert read_state(state).check is StateCheck.INVALID


# --- properties of the parser ---------------------------------------------------------------

STATE_CHARS = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@FAST
@given(st.one_of(st.text(), st.binary().map(lambda b: b.decode("latin-1"))))
@example("\ud800" * 20 + "." + "A" * 43)  # a lone surrogate cannot even be encoded
@example(None)
@example(b"bytes." + b"A" * 43)
def test_any_string_reads_invalid_and_never_raises(text: object) -> None:
    assert read_state(text).check is StateCheck.INVALID


@FAST
@given(
    st.lists(STATE_CHARS, min_size=16, max_size=350).map("".join),
    st.lists(STATE_CHARS, min_size=43, max_size=43).map("".join),
    st.sampled_from(["", "\n", "=", " "]),
)
def test_well_shaped_forgeries_read_invalid(payload: str, signature: str, tail: str) -> None:
    """Past the shape check, the signature refuses them (and a trailing newline never passes)."""
    assert read_state(f"{payload}{SEPARATOR}{signature}{tail}").check is StateCheck.INVALID


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)


@FAST
@given(JSON, st.dictionaries(st.sampled_from("nietb"), JSON))
def test_signed_values_of_another_shape_read_invalid(anything: object, partial: dict) -> None:
    """Even under our own signature and salt, only the exact payload shape is a state."""
    for value in (anything, partial):
        signed = signing.Signer(salt=INSTALL_SALT, sep=SEPARATOR).sign_object(value)
        shaped = isinstance(value, dict) and set(value) == set("nietb")
        assert read_state(signed).check is StateCheck.INVALID or shaped


@FAST
@given(
    st.sampled_from(["n", "i", "e", "t", "b"]),
    st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False), st.lists(st.integers())),
)
def test_a_payload_with_a_wrong_type_reads_invalid(key: str, value: object) -> None:
    raw = {"n": "nonce", "i": 1, "e": 2**33, "t": "", "b": BROWSER, key: value}
    signed = signing.Signer(salt=INSTALL_SALT, sep=SEPARATOR).sign_object(raw)
    assert read_state(signed).check is StateCheck.INVALID


@FAST
@given(st.integers(min_value=-(2**70), max_value=2**70))
def test_absurd_times_never_raise(moment: int) -> None:
    raw = {"n": "nonce", "i": moment, "e": moment, "t": "", "b": BROWSER}
    found = read_state(signing.Signer(salt=INSTALL_SALT, sep=SEPARATOR).sign_object(raw))
    if found.check is StateCheck.LIVE:
        assert found.payload is not None and found.payload.expires_at > timezone.now()


@hypothesis_settings(max_examples=100, deadline=None, derandomize=True)
@given(
    st.one_of(st.just(""), st.from_regex(TEAM_ID, fullmatch=True)),
    st.binary(min_size=1, max_size=64),
    st.integers(min_value=1, max_value=86_400),
)
def test_issued_states_round_trip(team: str, browser_seed: bytes, ttl: int) -> None:
    browser = binding(browser_seed.hex())
    now = timezone.now().replace(microsecond=0)
    state = issue_state(team, browser=browser, ttl_seconds=ttl, now=now)
    assert len(state) <= MAX_STATE_LENGTH
    assert json.dumps(state).strip('"') == state  # nothing to escape: safe in URLs and cookies
    found = read_state(state, now=now)
    assert found.check is StateCheck.LIVE and found.payload is not None
    assert found.payload.team_hint == team and found.payload.browser == browser
    assert found.payload.expires_at - found.payload.issued_at == timedelta(seconds=ttl)
    assert read_state(state, now=now + timedelta(seconds=ttl)).check is StateCheck.EXPIRED


@pytest.mark.django_db(transaction=True)
def test_concurrent_spends_have_exactly_one_winner() -> None:
    state = issue_state(browser=BROWSER)
    results = run_at_once(6, lambda: spend(state))
    assert sorted(results) == [False] * 5 + [True]
    assert OAuthState.objects.count() == 1


# --- through the callback ------------------------------------------------------------------


def test_mismatched_cookie_is_refused_and_spends_neither_state(flow: Flow) -> None:
    """Cookie binds this browser's flow, the query carries another browser's state."""
    mine = flow.start()
    other_browser = Flow(flow.standin, Client())
    theirs = other_browser.start()
    response = flow.back(flow.standin.approve(theirs))
    assert response.status_code == 400
    assert b"invalid_browser" in response.content
    assert flow.standin.calls_to("oauth.v2.access") == []
    assert OAuthState.objects.count() == 0
    # This browser's cookie is left alone, so its own flow can still finish; so can theirs.
    assert COOKIE_NAME not in response.cookies
    assert flow.back(flow.standin.approve(mine)).status_code == 302
    assert other_browser.back(other_browser.standin.approve(theirs)).status_code == 302


def test_a_cookie_we_never_set_is_a_mismatch(flow: Flow) -> None:
    redirect = flow.standin.approve(flow.start())
    for value in ("x", "b" * 43, "b" * 42 + "\n"):
        flow.client.cookies[COOKIE_NAME] = value
        response = flow.back(redirect)
        assert response.status_code == 400
        assert b"invalid_browser" in response.content
    assert OAuthState.objects.count() == 0


def test_missing_cookie_is_refused(flow: Flow) -> None:
    redirect = flow.standin.approve(flow.start())
    response = flow.back(redirect, client=Client())
    assert response.status_code == 400
    body = response.content.decode()
    assert "missing_cookie" in body and "https" in body
    assert flow.standin.calls_to("oauth.v2.access") == []
    assert OAuthState.objects.count() == 0
    assert flow.back(redirect).status_code == 302  # the real browser still finishes


@pytest.mark.parametrize("state", ["never-issued", "x" * 5000, "a" * 20 + ".b" * 2, "\u2603"])
def test_unknown_state_is_invalid(flow: Flow, state: str) -> None:
    flow.start()
    response = flow.client.get("/slack/oauth_redirect", {"state": state, "code": "c"}, secure=True)
    assert response.status_code == 400
    assert b"invalid_state" in response.content
    assert b"not valid" in response.content
    assert b"already used" not in response.content
    assert flow.standin.calls == []


def test_a_tampered_state_is_invalid(flow: Flow) -> None:
    redirect = flow.standin.approve(flow.start())
    state = query_of(redirect)["state"]
    tampered = redirect.replace(state, state[:5] + ("A" if state[5] != "A" else "B") + state[6:])
    response = flow.back(tampered)
    assert response.status_code == 400
    assert b"invalid_state" in response.content
    assert flow.back(redirect).status_code == 302  # the genuine state was not burnt


def test_expired_state_is_refused(flow: Flow, state_clock: StateClock, settings: Any) -> None:
    url = flow.start()
    state_clock.advance(settings.SLACK_STATE_TTL_SECONDS + 1)
    response = flow.back(flow.standin.approve(url))
    assert response.status_code == 400
    assert b"expired_state" in response.content and b"expired" in response.content
    assert OAuthState.objects.count() == 0
    assert flow.standin.calls_to("oauth.v2.access") == []


def test_an_expired_state_reads_expired_after_its_record_was_purged(
    flow: Flow, state_clock: StateClock, settings: Any
) -> None:
    """Issue 11: a purged expired state used to read as "already used"."""
    redirect = flow.standin.approve(flow.start())
    assert flow.back(redirect).status_code == 302
    state_clock.advance(settings.SLACK_STATE_TTL_SECONDS + 1)
    assert purge_expired_states(now=state_clock.now()) == 1
    again = flow.back(redirect)
    assert again.status_code == 400
    assert b"expired_state" in again.content
    assert b"already used" not in again.content
    fresh = flow.back(flow.standin.approve(flow.start()))  # a new start works at the new time
    assert fresh.status_code == 302


def test_reload_after_success_says_the_link_was_used(flow: Flow) -> None:
    redirect = flow.standin.approve(flow.start())
    first = flow.back(redirect)
    assert first.status_code == 302
    again = flow.back(redirect)  # a reload resends the same URL with the same cookie
    assert again.status_code == 400
    assert b"used_state" in again.content and b"already used" in again.content
    assert b"Traceback" not in again.content
    assert flow.back(redirect, client=Client()).status_code == 400  # nor from another browser
    assert len(flow.standin.calls_to("oauth.v2.access")) == 1
    assert Installation.objects.count() == 1


def test_two_install_tabs_in_one_browser_both_complete(flow: Flow) -> None:
    """Issue 11: the older tab used to say "started in another browser"."""
    older = flow.start()
    browser = flow.state_cookie()
    newer = flow.start(team="T0SECOND1")
    assert flow.state_cookie() == browser  # the value is reused, not replaced
    assert flow.back(flow.standin.approve(newer)).status_code == 302
    assert flow.back(flow.standin.approve(older)).status_code == 302
    assert Workspace.objects.count() == 2
    assert OAuthState.objects.count() == 2


def test_two_tabs_with_a_real_browsers_cookie_paths(flow: Flow) -> None:
    """A browser sends each cookie only to its Path: the install page sees its own cookie, the
    callback only ``slack-app-oauth-state``. Replayed that way, both tabs still finish."""
    older = Client().get("/slack/install", secure=True)
    install_cookie = older.cookies[INSTALL_COOKIE_NAME].value
    newer = Client().get(
        "/slack/install", secure=True, HTTP_COOKIE=f"{INSTALL_COOKIE_NAME}={install_cookie}"
    )
    callback_cookie = newer.cookies[COOKIE_NAME].value
    assert callback_cookie == install_cookie
    for page in (older, newer):
        redirect = flow.standin.approve(authorize_href(page))
        response = Client().get(
            "/slack/oauth_redirect?" + redirect.split("?", 1)[1],
            secure=True,
            HTTP_COOKIE=f"{COOKIE_NAME}={callback_cookie}",
        )
        assert response.status_code == 302


def test_quoted_cookie_value_still_matches(flow: Flow) -> None:
    redirect = flow.standin.approve(flow.start())
    cookie = flow.state_cookie()
    parts = redirect.split("/slack/oauth_redirect", 1)[1]
    response = Client().get(
        "/slack/oauth_redirect" + parts, secure=True, HTTP_COOKIE=f'{COOKIE_NAME}="{cookie}"'
    )
    assert response.status_code == 302


def test_a_login_between_start_and_callback_does_not_break_the_flow(flow: Flow) -> None:
    """The binding lives in its own cookie, not the session: a login (cycle_key()) keeps it."""
    from django.contrib.auth import get_user_model

    redirect = flow.standin.approve(flow.start())
    flow.client.force_login(get_user_model().objects.create_user("someone"))
    assert flow.back(redirect).status_code == 302


def test_a_state_issued_without_a_browser_is_never_accepted(flow: Flow) -> None:
    """``slack_install_url`` prints such a state: it cannot complete in any browser."""
    flow.start()
    redirect = flow.standin.approve(authorize_url(issue_state()))
    response = flow.back(redirect)
    assert response.status_code == 400
    assert b"invalid_browser" in response.content


@pytest.mark.django_db(transaction=True)
def test_two_callbacks_with_one_state_at_once(flow_tx: Flow) -> None:
    flow_tx.standin.fail_next("oauth.v2.access", delay=0.3)  # keep the winner busy at Slack
    redirect = flow_tx.standin.approve(flow_tx.start())
    cookie = flow_tx.state_cookie()

    def browser() -> int:  # a browser of its own, holding the same state cookie
        client = Client()
        client.cookies[COOKIE_NAME] = cookie or ""
        return flow_tx.back(redirect, client=client).status_code

    statuses = run_at_once(2, browser)
    assert sorted(statuses) == [302, 400]
    assert len(flow_tx.standin.calls_to("oauth.v2.access")) == 1
    assert Workspace.objects.count() == 1
    assert Installation.objects.count() == 1
