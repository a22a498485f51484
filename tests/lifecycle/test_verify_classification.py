"""The one classification of auth.test outcomes (lifecycle/verification.py, ``what_code_says``)
and the verdicts it gives over any sequence of answers: only a code that speaks of the token
counts against it, and dead needs a dead code or two refusals in a row (docs/slack-protocol.md
§5 and §9). Driven through the real commands in test_verify_what_codes_say.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from installations.lifecycle.verification import (
    ALIVE_CODES,
    DEAD_CODES,
    EXPIRED_CODES,
    FOREIGN_TOKEN,
    SUSPECT_CODES,
    TokenSays,
    _verdict,
    what_code_says,
)
from installations.models import Health, Workspace

SAYS_NOTHING = ["ratelimited", "internal_error", "fatal_error", "request_timeout", "not_authed"]

SPEAKING = sorted(DEAD_CODES | SUSPECT_CODES | EXPIRED_CODES | ALIVE_CODES | {FOREIGN_TOKEN})
codes = st.one_of(
    st.sampled_from(["ok", *SPEAKING, *SAYS_NOTHING, "slack_http_error", "unexpected_response"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.-0123456789", min_size=1, max_size=24),
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def after(verdicts: list[str]) -> Workspace:
    """An unsaved row with each verdict's fields set in turn, as the conditional UPDATE does."""
    row = Workspace(health=Health.UNKNOWN, verify_failures=0)
    for code in verdicts:
        for name, value in _verdict(row, code, None, now=NOW).items():
            setattr(row, name, value)
    return row


def speaking(verdicts: list[str]) -> list[str]:
    return [code for code in verdicts if what_code_says(code) is not TokenSays.NOTHING]


@given(st.lists(codes, max_size=8), codes)
def test_a_code_that_says_nothing_changes_no_count(verdicts: list[str], code: str) -> None:
    before = after(verdicts)
    row = after([*verdicts, code])
    if code not in ("ok", *SPEAKING):
        assert what_code_says(code) is TokenSays.NOTHING
        assert row.verify_failures == before.verify_failures
        assert row.last_verified_at == before.last_verified_at
        assert row.health == Health.UNKNOWN


@given(st.lists(codes, max_size=10))
def test_dead_needs_a_dead_code_or_two_refusals_in_a_row(verdicts: list[str]) -> None:
    row = after(verdicts)
    spoken = speaking(verdicts)
    assert row.verify_failures == after(spoken).verify_failures  # the rest never counted
    if row.health != Health.DEAD:
        return
    last = spoken[-1]
    if what_code_says(last) is TokenSays.DEAD:
        return
    assert what_code_says(last) is TokenSays.REFUSED
    assert what_code_says(spoken[-2]) in (TokenSays.REFUSED, TokenSays.EXPIRED, TokenSays.DEAD)


def test_every_known_code_has_one_meaning() -> None:
    sets: list[frozenset[str]] = [DEAD_CODES, SUSPECT_CODES, EXPIRED_CODES, ALIVE_CODES]
    assert sum(len(s) for s in sets) == len(frozenset().union(*sets))
    assert {what_code_says(c) for c in SAYS_NOTHING} == {TokenSays.NOTHING}
