"""The figures a benchmark run is judged on, one JSON-lines file per run, and its summary table.

Each script calls ``record(...)`` for every figure of the summary table. A figure measured over
alternating rounds (ours, peer, ours, peer, ...) carries each round's value; its value is their
median and its spread their range, and it is quoted no more precisely than that spread allows
(``0.9x (0.8-1.1)``). A figure measured once is quoted to two significant digits: on a shared
machine one run varies by tens of percent, and one run cannot say by how much.

When ``BENCH_RESULTS`` names a file (``make bench`` sets one per run under benchmarks/results/),
each figure is appended to it as one JSON line, after a first line describing the run (``start``)
and before a last one (``end``). ``python benchmarks/results.py table FILE`` prints the summary
table; ``markdown FILE`` prints it as the Markdown of benchmarks/README.md's summary, and
``readme FILE`` writes that into the README between its two summary markers. A script run on its
own prints its figures as it goes and writes nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

Direction = Literal["at least", "at most"]
ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "benchmarks" / "README.md"
BEGIN, END = "<!-- summary: begin -->", "<!-- summary: end -->"


@dataclass(frozen=True)
class Figure:
    name: str  # e.g. "events: CPU ms per event, server, vs cached Bolt"
    value: float  # the median of ``rounds`` when there are rounds
    unit: str  # e.g. "x peer", "installs/s", "ms"
    target: float | None = None  # None: shown beside the others, judged on nothing
    direction: Direction = "at least"
    rounds: list[float] = field(default_factory=list)  # one value per alternating round
    beside: str = ""  # what it is made of, e.g. "ours 2.6 ms, the peer's 2.8 ms"

    @property
    def is_ratio(self) -> bool:
        """Quoted as "0.9x": ratios to a peer ("x peer") or of two sizes ("x")."""
        return self.unit.split(" ")[0] == "x"

    @property
    def goal(self) -> str:
        if self.target is None:
            return ""
        mark = "x" if self.is_ratio else ""
        return f"{'>=' if self.direction == 'at least' else '<='} {self.target:,g}{mark}"

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        quoted = round(self.value, self.places)  # judged as quoted: finer is noise
        met = quoted >= self.target if self.direction == "at least" else quoted <= self.target
        return "ok" if met else "MISS"

    @property
    def shown(self) -> str:
        """The quoted value and its unit: "0.9x (0.8-1.1)", "120 installs/s (100-140)"."""
        if self.is_ratio:
            return self.quoted
        value, _, spread = self.quoted.partition(" ")
        return " ".join(part for part in (value, self.unit, spread) if part)

    @property
    def places(self) -> int:
        """Decimal places the figure is quoted to: as far as its rounds agree (yet at least its
        first significant digit), or two significant digits for a figure measured once."""
        if self.value == 0 or not math.isfinite(self.value):
            return 0
        first = -math.floor(math.log10(abs(self.value)))  # places of the first digit
        if len(self.rounds) < 2 or min(self.rounds) == max(self.rounds):
            return first + 1
        return max(first, decimals_for(max(self.rounds) - min(self.rounds)))

    @property
    def quoted(self) -> str:
        """The value to the precision its rounds allow, with their range when there are several."""
        unit = "x" if self.is_ratio else ""
        value = fixed(self.value, self.places) + unit
        if len(self.rounds) < 2 or min(self.rounds) == max(self.rounds):
            return value
        low, high = (fixed(bound, self.places) for bound in (min(self.rounds), max(self.rounds)))
        return f"{value} ({low}-{high})"


def decimals_for(spread: float) -> int:
    """Decimal places that stop at the spread's leading digit: 0.3 -> 1, 0.04 -> 2, 40 -> -1."""
    return -math.floor(math.log10(spread))


def fixed(value: float, places: int) -> str:
    """``value`` rounded to ``places`` decimals (negative: to tens, hundreds...), thousands
    separated: fixed(123.4, -1) == "120", fixed(23965, -3) == "24,000"."""
    rounded = round(value, places)
    return f"{rounded:,.{max(places, 0)}f}"


def median_of(values: Sequence[float], unit: str) -> str:
    """The median to two significant digits, with its unit: for what a figure is made of."""
    return f"{Figure('', statistics.median(values), unit).quoted} {unit}"


def ratios(ours: Sequence[float], peer: Sequence[float]) -> list[float]:
    """Round by round, ours over the peer's (each pair measured back to back)."""
    return [mine / theirs for mine, theirs in zip(ours, peer, strict=True)]


def record(
    name: str,
    unit: str,
    *,
    rounds: Sequence[float] = (),
    value: float | None = None,
    target: float | None = None,
    direction: Direction = "at least",
    beside: str = "",
) -> Figure:
    """Print the figure and, under ``make bench``, append it to the run's results file.

    Give either ``rounds`` (the value is their median) or one measured ``value``."""
    if value is None:
        value = statistics.median(rounds)
    figure = Figure(name, value, unit, target, direction, [float(r) for r in rounds], beside)
    goal = "" if target is None else f" (target {figure.goal}): {figure.verdict}"
    print(f"  -> {name}: {figure.shown}{goal}{'; ' + beside if beside else ''}", flush=True)
    _append({"figure": asdict(figure)})
    return figure


def _append(line: dict[str, Any]) -> None:
    path = os.environ.get("BENCH_RESULTS")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")


def _load_average() -> list[float]:
    return [round(load, 2) for load in os.getloadavg()]


def start(database: str, quick: bool) -> None:
    """The run's first line: when, which commit, which machine and how busy, which sizes."""
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty", "--abbrev=12"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    _append(
        {
            "start": {
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "commit": commit,
                "database": database,
                "sizes": "quick" if quick else "full",
                "cores": len(os.sched_getaffinity(0)),
                "load_average": _load_average(),
                "python": platform.python_version(),
            }
        }
    )


def end(seconds: int, failed: str) -> None:
    _append({"end": {"minutes": round(seconds / 60, 1), "load_average": _load_average(),
                     "failed": failed}})  # fmt: skip


@dataclass
class Run:
    start: dict[str, Any]
    figures: list[Figure]
    end: dict[str, Any]


def load(path: str | Path) -> Run:
    found = Run({}, [], {})
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        if "figure" in entry:
            found.figures.append(Figure(**entry["figure"]))
        found.start = entry.get("start", found.start)
        found.end = entry.get("end", found.end)
    return found


def rows(run: Run) -> list[tuple[str, str, str, str, str]]:
    header = ("figure", "median (range of rounds)", "target", "", "made of")
    return [header] + [(f.name, f.shown, f.goal, f.verdict, f.beside) for f in run.figures]


def describe(run: Run, path: str | Path) -> str:
    s, e = run.start, run.end
    return (
        f"{Path(path).name}: {s.get('sizes', '?')} sizes on {s.get('database', '?')}, "
        f"commit {s.get('commit', '?')}, {s.get('at', '?')}, {s.get('cores', '?')} cores, "
        f"load average {s.get('load_average', '?')} at the start and {e.get('load_average', '?')} "
        f"at the end, {e.get('minutes', '?')} min"
    )


def verdicts(run: Run) -> str:
    judged = [f for f in run.figures if f.target is not None]
    missed = sum(1 for f in judged if f.verdict == "MISS")
    return f"{len(judged) - missed} of {len(judged)} targets met, {missed} MISS"


def table(path: str | Path) -> str:
    run = load(path)
    lines = rows(run)
    widths = [max(len(row[i]) for row in lines) for i in range(5)]
    out = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in lines
    ]
    return "\n".join([describe(run, path), *out, verdicts(run)])


def markdown(path: str | Path) -> str:
    run = load(path)
    lines = rows(run)
    out = ["| " + " | ".join(lines[0]) + " |", "|" + "---|" * 5]
    out += ["| " + " | ".join(row) + " |" for row in lines[1:]]
    cited = os.path.relpath(Path(path).resolve(), README.parent)  # the link, from the README
    source = f"From [`{Path(path).name}`]({cited}): {describe(run, path).split(': ', 1)[1]}."
    return "\n".join([source, *caveats(run), "", *out, "", verdicts(run) + "."])


def caveats(run: Run) -> list[str]:
    """What makes a run's figures unfit to quote: smaller sizes, a busy machine, failures."""
    found = []
    if run.start.get("sizes") == "quick":
        found.append("Quick sizes: a check that every script runs, not figures to quote.")
    load, cores = run.start.get("load_average", [0.0])[0], run.start.get("cores", 1)
    if load > cores / 2:
        found.append(
            f"The machine was busy (load average {load} on {cores} cores at the start): every "
            "figure moves with the load; run again on a quiet machine."
        )
    if run.end.get("failed"):
        found.append(f"Failed: {run.end['failed']}.")
    return ["", *found] if found else []


def write_readme(path: str | Path) -> None:
    text = README.read_text(encoding="utf-8")
    head, begin, rest = text.partition(BEGIN)
    _, end_marker, tail = rest.partition(END)
    if not begin or not end_marker:
        sys.exit(f"{README}: no {BEGIN} ... {END} block")
    README.write_text(f"{head}{BEGIN}\n{markdown(path)}\n{END}{tail}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    begun = commands.add_parser("start", help="the run's first line (make bench)")
    begun.add_argument("database")
    begun.add_argument("--quick", action="store_true")
    ended = commands.add_parser("end", help="the run's last line (make bench)")
    ended.add_argument("seconds", type=int)
    ended.add_argument("--failed", default="")
    for name in ("table", "markdown", "readme"):
        commands.add_parser(name).add_argument("file")
    args = parser.parse_args()
    if args.command == "start":
        start(args.database, args.quick)
    elif args.command == "end":
        end(args.seconds, args.failed)
    elif args.command == "table":
        print(table(args.file))
    elif args.command == "markdown":
        print(markdown(args.file))
    else:
        write_readme(args.file)


if __name__ == "__main__":
    main()
