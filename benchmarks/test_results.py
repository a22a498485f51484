"""results.py: what a run file holds comes back as written, and a figure is quoted and judged
as its rounds allow. Not in ``make test`` (tests/ is the product's):
.venv/bin/python -m pytest benchmarks/test_results.py -q -p no:cacheprovider
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import results

positive = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)
some_rounds = st.lists(positive, min_size=3, max_size=7)


def number(text: str) -> float:
    return float(text.rstrip("x").replace(",", ""))


def shown_parts(figure: results.Figure) -> tuple[float, float, float]:
    """(value, low, high) as the quoted text says them."""
    value, _, spread = figure.quoted.partition(" ")
    if not spread:
        return number(value), number(value), number(value)
    low, high = spread.strip("()").split("-")
    return number(value), number(low), number(high)


@given(rounds=some_rounds, unit=st.sampled_from(["x peer", "ms", "installs/s"]))
def test_the_quoted_median_lies_in_the_quoted_range(rounds: list[float], unit: str) -> None:
    figure = results.Figure("f", sorted(rounds)[len(rounds) // 2], unit, rounds=rounds)
    value, low, high = shown_parts(figure)
    assert low <= value <= high
    assert "e" not in figure.quoted  # never in exponent form


@pytest.mark.parametrize(
    ("value", "unit", "rounds", "shown"),
    [
        (0.94, "x peer", [0.8, 0.94, 1.1], "0.9x (0.8-1.1)"),  # +-30 %: one decimal
        (1.034, "x peer", [1.02, 1.034, 1.05], "1.03x (1.02-1.05)"),  # closer rounds, finer
        (0.91, "x peer", [0.6, 0.91, 1.6], "0.9x (0.6-1.6)"),  # at least the first digit
        (120.9, "installs/s", [100.2, 120.9, 140.1], "120 installs/s (100-140)"),
        (355.5, "ms", [169.8, 355.5, 509.2], "400 ms (200-500)"),
        (23_965.0, "values/s", [], "24,000 values/s"),  # measured once: two digits
        (0.99, "x", [], "0.99x"),
        (0.0, "tokens", [], "0 tokens"),
    ],
)
def test_quoted_as_far_as_the_rounds_agree(
    value: float, unit: str, rounds: list[float], shown: str
) -> None:
    assert results.Figure("f", value, unit, rounds=rounds).shown == shown


@given(
    rounds=some_rounds,
    target=positive,
    direction=st.sampled_from(["at least", "at most"]),
)
def test_the_verdict_is_the_quoted_value_against_the_target(
    rounds: list[float], target: float, direction: results.Direction
) -> None:
    median = sorted(rounds)[len(rounds) // 2]
    figure = results.Figure("f", median, "ms", target, direction, rounds)
    quoted = round(median, figure.places)
    met = quoted >= target if direction == "at least" else quoted <= target
    assert figure.verdict == ("ok" if met else "MISS")


@settings(deadline=None)  # start() asks git for the commit: its time is the machine's
@given(
    figures=st.lists(
        st.tuples(
            st.text(min_size=1, max_size=40),
            some_rounds,
            st.one_of(st.none(), positive),
            st.sampled_from(["at least", "at most"]),
        ),
        max_size=5,
    )
)
def test_a_run_file_reads_back_as_recorded(
    figures: list[tuple[str, list[float], float | None, results.Direction]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    path = tmp_path_factory.mktemp("run") / "run.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENCH_RESULTS", str(path))
        path.write_text("")
        results.start("postgresql", quick=True)
        written = [
            results.record(name, "ms", rounds=rounds, target=target, direction=direction)
            for name, rounds, target, direction in figures
        ]
        results.end(61, "")
    run = results.load(path)
    assert run.figures == written
    assert run.start["database"] == "postgresql" and run.end["minutes"] == 1.0
    assert (
        results.table(path)
        .splitlines()[-1]
        .endswith(f"{sum(1 for f in written if f.verdict == 'MISS')} MISS")
    )


def test_the_readme_block_cites_the_run_file(tmp_path: Path) -> None:
    run = tmp_path / "20261207-120000.jsonl"
    figure = {"name": "events", "value": 0.9, "unit": "x peer", "rounds": [0.8, 0.9, 1.1]}
    run.write_text(json.dumps({"figure": figure}) + "\n")
    block = results.markdown(run)
    cited = re.match(r"From \[`20261207-120000.jsonl`\]\(([^)]+)\)", block)
    assert cited and (results.README.parent / cited.group(1)).resolve() == run.resolve()
    assert "| events | 0.9x (0.8-1.1) |" in block
