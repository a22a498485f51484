"""Issue 11, class 9: every id pattern is a full match. ``re.match`` with ``$`` also accepts a
trailing newline ("T0ABC123\\n" reached the authorize URL); the patterns now end in ``\\Z`` or are
used with ``fullmatch``. Each is checked through the function that uses it, with hypothesis:
what the pattern describes is accepted, and nothing with anything after it (a newline first).
"""

from __future__ import annotations

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from installations.admin.site import SLACK_ID
from installations.encryption.keyring import (
    ENVELOPE_PATTERN,
    KID_PATTERN,
    EnvelopeError,
    Keyring,
    KeyringError,
    generate_key_entry,
    kid_of,
)
from installations.exceptions import InvalidTeam
from installations.install.cookie import BROWSER_VALUE, binding, cookie_binding
from installations.install.flow import TEAM_ID, clean_team
from installations.install.state import STATE_PATTERN, StateCheck, issue_state, read_state
from tests.support.flow import authorize_href, query_of

FAST = settings(max_examples=150, deadline=None, derandomize=True)
DB_FAST = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
# What may follow a valid id: a character no id pattern allows (a newline first: the bug), then
# anything at all.
SUFFIX = st.builds(
    str.__add__,
    st.sampled_from(["\n", "\r\n", "\r", "\n\n", " ", "\t", "\x0b", "\x0c", "\x00", "\u2028", "!"]),
    st.text(max_size=5),
)


def team_ids() -> st.SearchStrategy[str]:
    return st.from_regex(TEAM_ID, fullmatch=True)


# --- the team hint (install page, slack_install_url) ----------------------------------------


@FAST
@given(team_ids(), SUFFIX)
def test_clean_team_accepts_ids_and_nothing_after_them(team: str, suffix: str) -> None:
    assert clean_team(team) == team
    with pytest.raises(InvalidTeam):
        clean_team(team + suffix)


@FAST
@given(st.text(max_size=40))
def test_clean_team_on_any_text_is_the_full_match_or_invalid_team(text: str) -> None:
    try:
        assert clean_team(text) == (text or None)
    except InvalidTeam:
        assert TEAM_ID.fullmatch(text) is None


@pytest.mark.django_db
@pytest.mark.parametrize("team", ["T0ABC123\n", "T0ABC123\r\n", "T0ABC123 ", "\nT0ABC123"])
def test_the_install_page_refuses_a_team_with_a_newline(team: str) -> None:
    page = Client().get("/slack/install", {"team": team}, secure=True)
    assert page.status_code == 400
    assert b"invalid_team" in page.content
    assert b"T0ABC123\n" not in page.content


@pytest.mark.django_db
@DB_FAST
@given(st.one_of(team_ids(), st.text(max_size=40)))
def test_the_install_page_never_500s_and_passes_only_clean_teams_on(team: str) -> None:
    page = Client().get("/slack/install", {"team": team}, secure=True)
    if "\x00" in team:
        assert page.status_code == 400  # RejectNulBytesMiddleware
    elif team and not TEAM_ID.fullmatch(team):
        assert page.status_code == 400 and b"invalid_team" in page.content
    else:
        assert page.status_code == 200
        assert query_of(authorize_href(page)).get("team", "") == team


# --- token-encryption key ids and envelopes --------------------------------------------------


@FAST
@given(st.from_regex(KID_PATTERN, fullmatch=True), SUFFIX)
def test_key_ids_are_full_matches(kid: str, suffix: str) -> None:
    entry = generate_key_entry(kid)
    assert Keyring.parse(entry).kids == (kid,)
    with pytest.raises(KeyringError):
        generate_key_entry(kid + suffix)
    key = entry.split(":", 1)[1]
    if ":" not in suffix and "," not in suffix:
        with pytest.raises(KeyringError):
            Keyring.parse(f"{kid}{suffix}:{key}")


def test_a_key_id_with_an_inner_newline_is_refused() -> None:
    """Entries are stripped, so only a newline before the colon used to slip through."""
    key = generate_key_entry("k1").split(":", 1)[1]
    with pytest.raises(KeyringError):
        Keyring.parse(f"k1\n:{key}")


KEYRING = Keyring.parse(generate_key_entry("k1"))


@FAST
@given(st.text(max_size=30), SUFFIX)
def test_envelopes_are_full_matches(plaintext: str, suffix: str) -> None:
    envelope = KEYRING.encrypt(plaintext, "ctx")
    assert ENVELOPE_PATTERN.match(envelope)
    assert kid_of(envelope) == "k1"
    assert KEYRING.decrypt(envelope, "ctx") == plaintext
    assert kid_of(envelope + suffix) is None
    with pytest.raises(EnvelopeError):
        KEYRING.decrypt(envelope + suffix, "ctx")


# --- OAuth state and the browser binding -------------------------------------------------------


@FAST
@given(team_ids(), SUFFIX)
def test_states_are_full_matches(team: str, suffix: str) -> None:
    state = issue_state(team, browser=binding("b" * 43))
    assert STATE_PATTERN.fullmatch(state)
    assert read_state(state).check is StateCheck.LIVE
    assert read_state(state + suffix).check is StateCheck.INVALID


@FAST
@given(st.from_regex(BROWSER_VALUE, fullmatch=True), SUFFIX)
def test_browser_values_are_full_matches(value: str, suffix: str) -> None:
    assert cookie_binding(value) == binding(value)
    assert cookie_binding(value + suffix) is None


@FAST
@given(st.from_regex(r"[TEUWB][0-9][A-Z0-9]{5,12}", fullmatch=True), SUFFIX)
def test_the_admin_search_id_pattern_is_used_as_a_full_match(term: str, suffix: str) -> None:
    assert SLACK_ID.fullmatch(term)
    assert SLACK_ID.fullmatch(term + suffix) is None
