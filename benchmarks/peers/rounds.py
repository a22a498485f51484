"""Alternating rounds against a peer: what each round cost and how fast it went, and the figures.

A side (us, or a peer) is driven for one run while the other waits, then the other, round after
round, so a change in the machine's load touches both sides of a pair. Per run, the CPU of every
process is read from /proc before and after (harness.cpu_snapshot): the side's server (master
and workers), PostgreSQL's backends for the benchmark database, the stand-in and the load
generator. The headline is CPU ms per unit of work, of the server and of all those processes
together; each ratio to the peer is taken round by round, and the figure is their median with
their range (results.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from benchmarks.peers import harness
from benchmarks.results import median_of, ratios, record

SHARED = ("postgres", "stand-in", "load generator")  # the processes every side uses


@dataclass
class Rounds:
    """One side's runs, and the CPU ms per unit each cost."""

    label: str
    runs: list[harness.Run] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)  # the side's server, per unit
    all_ms: list[float] = field(default_factory=list)  # server and SHARED, per unit

    def measure(
        self,
        contest: harness.Contest,
        server: str,
        count: int,
        drive: Callable[[], harness.Run],
        label: str,
    ) -> harness.Run:
        """Run ``drive`` (``count`` units served by ``server``), print it as ``label`` (e.g. "8
        users") and keep what it cost."""
        before = harness.cpu_snapshot(contest)
        run = drive()
        after = harness.cpu_snapshot(contest)
        spent = {name: (after[name] - before[name]) * 1000 / count for name in after}
        self.runs.append(run)
        self.server_ms.append(spent[server])
        self.all_ms.append(spent[server] + sum(spent[name] for name in SHARED))
        print(run.line(label), flush=True)
        print(harness.cpu_line(before, after, count), flush=True)
        return run

    @property
    def rates(self) -> list[float]:
        return [run.rate for run in self.runs]

    @property
    def p99s(self) -> list[float]:
        return [harness.p99(run.latencies) * 1000 for run in self.runs]


def compare(what: str, unit: str, ours: Rounds, peer: Rounds, *, target: float | None) -> None:
    """Record ours against ``peer``, round by round: CPU per ``unit`` of the server and of all
    processes (judged against ``target`` times the peer's, when given), and throughput."""
    for part, mine, theirs in (
        ("server", ours.server_ms, peer.server_ms),
        ("all processes", ours.all_ms, peer.all_ms),
    ):
        record(
            f"{what}: CPU ms per {unit}, {part}, ours / {peer.label}",
            "x peer",
            rounds=ratios(mine, theirs),
            target=target,
            direction="at most",
            beside=f"ours {median_of(mine, 'ms')}, {peer.label} {median_of(theirs, 'ms')}",
        )
    rate = f"{unit}s/s"
    record(
        f"{what}: {rate}, ours / {peer.label}",
        "x peer",
        rounds=ratios(ours.rates, peer.rates),
        beside=f"ours {median_of(ours.rates, rate)}, {peer.label} {median_of(peer.rates, rate)}",
    )
