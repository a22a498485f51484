"""The figures a benchmark run is judged on, collected across scripts for one summary table.

Each script calls ``record(...)`` for every figure issue targets name (installs/s, checks/s, ...).
When ``BENCH_RESULTS`` names a file (``make bench`` sets one per run), the figure is appended to
it as one JSON line; ``python benchmarks/results.py FILE`` prints the table: name, value, unit,
target, and ``ok`` or ``MISS``. A script run on its own prints its figures as it goes and records
nothing. Targets are stated here, next to the figure, so the table and the README agree.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from typing import Literal

Direction = Literal["at least", "at most"]


@dataclass(frozen=True)
class Figure:
    name: str  # e.g. "install flow, 8 users, PostgreSQL"
    value: float
    unit: str  # e.g. "installs/s", "x peer", "ms", "MiB"
    target: float
    direction: Direction = "at least"

    @property
    def ok(self) -> bool:
        if self.direction == "at least":
            return self.value >= self.target
        return self.value <= self.target


def record(
    name: str, value: float, unit: str, target: float, direction: Direction = "at least"
) -> Figure:
    """Print the figure and, under ``make bench``, append it to the run's results file."""
    figure = Figure(name, round(value, 3), unit, target, direction)
    verdict = "ok" if figure.ok else "MISS"
    print(f"  -> {name}: {figure.value:g} {unit} (target {direction} {target:g}): {verdict}")
    path = os.environ.get("BENCH_RESULTS")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(asdict(figure)) + "\n")
    return figure


def _number(value: float) -> str:
    """4 significant digits, never in exponent form: 23,203 rather than 2.32e+04."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def table(path: str) -> str:
    rows = [Figure(**json.loads(line)) for line in open(path, encoding="utf-8") if line.strip()]
    header = ("figure", "value", "unit", "target", "")
    lines = [
        (f.name, _number(f.value), f.unit, f"{f.direction} {f.target:g}", "ok" if f.ok else "MISS")
        for f in rows
    ]
    widths = [max(len(str(r[i])) for r in [header, *lines]) for i in range(5)]
    out = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(r, widths, strict=True))
        for r in [header, *lines]
    ]
    missed = sum(1 for f in rows if not f.ok)
    out.append(f"{len(rows)} figures, {missed} MISS")
    return "\n".join(out)


if __name__ == "__main__":
    print(table(sys.argv[1]))
