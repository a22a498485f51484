"""The guard every cache use goes through: the circuit breaker, and a validator per use that
turns any wrong shape into a miss (never an exception, never a wrong answer)."""

from __future__ import annotations

import threading
import time
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from installations.infrastructure.shared_cache import CircuitBreaker
from installations.reporting import chart, enterprises, gauges, health

# Anything a cache could hand back once unpickled: nested containers of plain values.
ANY_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=20), inner, max_size=4)
    ),
    max_leaves=12,
)


def test_a_failed_cache_is_skipped_for_the_interval_then_tried_once() -> None:
    breaker = CircuitBreaker(0.3)
    assert breaker.allows() and not breaker.is_open
    breaker.failed()
    assert breaker.is_open and not breaker.allows()
    time.sleep(0.35)
    tries = [breaker.allows() for _ in range(5)]
    assert tries == [True, False, False, False, False]  # one try per interval, not one per call
    breaker.succeeded()
    assert all(breaker.allows() for _ in range(5))


def test_after_the_interval_one_thread_tries_the_cache_the_others_skip_it() -> None:
    breaker = CircuitBreaker(0.2)
    breaker.failed()
    time.sleep(0.25)
    allowed: list[bool] = []
    threads = [threading.Thread(target=lambda: allowed.append(breaker.allows())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(allowed) == [False] * 7 + [True]


VALIDATORS: list[Any] = [
    health.valid_counts,
    chart.valid_weeks,
    enterprises.valid_choices,
    gauges.valid_counts,
]


@pytest.mark.parametrize("validate", VALIDATORS)
@given(value=ANY_VALUE)
def test_validators_accept_nothing_of_another_shape_and_never_raise(
    validate: Any, value: Any
) -> None:
    accepted = validate(value)
    assert accepted is None or accepted is value


def test_validators_accept_what_their_use_stores() -> None:
    counts = {"total": 3, "needs_reinstall": 1, "unreadable": 0, "active": 2}
    assert health.valid_counts(counts) is counts
    assert health.valid_counts({**counts, "active": -2}) is None
    assert health.valid_counts({**counts, "active": True}) is None  # a bool is no count
    assert health.valid_counts({**counts, "total": 1}) is None  # more active than in all
    assert health.valid_counts({"total": 3, "needs_reinstall": 1, "active": 2}) is None
    weeks = [chart.Week(date(2026, 1, 5)) for _ in range(chart.WEEKS)]
    assert chart.valid_weeks(weeks) is weeks
    assert chart.valid_weeks(weeks[1:]) is None
    assert chart.valid_weeks([*weeks[1:], chart.Week(date(2026, 1, 5), installs=-1)]) is None
    choices = [("none", "Not on Enterprise Grid"), ("E0ONE", "One (E0ONE)")]
    assert enterprises.valid_choices(choices) is choices
    assert enterprises.valid_choices([("E0ONE", "One")]) is None
    gauge_counts = {name: 0 for name in (*gauges.STATUSES, *gauges.REASON_NAMES)}
    assert gauges.valid_counts(gauge_counts) is gauge_counts
    assert gauges.valid_counts({**gauge_counts, "active": -1}) is None
