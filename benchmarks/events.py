"""Signed events through the one Request URL: slackinstall against Bolt peers, side by side.

Run: BENCH_DATABASE_URL=postgres://... .venv/bin/python benchmarks/events.py
     [--events 1000] [--senders 8] [--rounds 3] [--quick] [--profile DIR]
Every side serves the same Bolt listener (benchmarks/peers/listeners.py: answer an app_mention
with ``say``, i.e. chat.postMessage with the workspace's bot token): ours is the developer's Bolt
app behind ``/slack/events`` (installations/bolt/request_url.py) on our encrypted store
(SLACK_BOLT_APP=benchmarks.peers.ours.build_app); the peer is a plain Bolt app on slack_sdk's
SQLAlchemy store, with ``InstallationStoreAuthorize(cache_enabled=True)`` ("cached Bolt", the
peer the targets compare with: the store read on every event, auth.test once per token, as
ours) and, on another path of the same server, Bolt's default authorize ("default Bolt",
auth.test on every event), reported beside it. Both servers run the project's gunicorn.conf.py,
same database, same stand-in (its own process). First each server installs ``--teams``
workspaces through its own flow; then ``--senders`` threads (one keep-alive connection each)
POST signed app_mention events for those teams, to each side in turn, ``--rounds`` times. A
response is counted when it is an empty 200 (Bolt's acknowledgement once the listener has run:
process_before_response is on everywhere, see benchmarks/peers/ours.py). Recorded (results.py),
round by round against the cached peer: CPU ms per event of the server and of all processes,
events/s; and our p99.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bootstrap import database_label
from benchmarks.peers import harness
from benchmarks.peers.rounds import Rounds, compare
from benchmarks.results import median_of, record
from slackstandin import events as standin_events
from slackstandin import messaging

TARGET_CPU_RATIO = 1.0  # CPU ms per event, times the cached Bolt peer's, round by round
TARGET_P99_MS = 100.0  # with 8 senders


@dataclass(frozen=True)
class Side:
    """One way of serving the events: a server and the path it takes them on."""

    label: str
    contestant: harness.Contestant
    path: str = "/slack/events"


def install_teams(
    contest: harness.Contest, contestant: harness.Contestant, teams: list[str]
) -> None:
    def work(browser: harness.Browser, team_id: str) -> float:
        return harness.install_once(browser, contest.standin, team_id)

    harness.drive(8, teams, work, contestant.port)


def event_runs(
    contest: harness.Contest, side: Side, senders: int, count: int, teams: list[str]
) -> harness.Run:
    team_cycle = itertools.cycle(teams)
    jobs = [next(team_cycle) for _ in range(count)]

    def work(browser: harness.Browser, team_id: str) -> float:
        payload = standin_events.envelope(
            messaging.mention_event("hello"),
            team_id=team_id,
            enterprise_id=None,
            is_enterprise_install=False,
            event_id=None,
            event_time=None,
        )
        body, headers = harness.signed_event(payload, contest.signing_secret)
        started = time.perf_counter()
        status, _, answer = browser.request("POST", side.path, body, headers)
        took = time.perf_counter() - started
        # Bolt acknowledges an event with an empty 200; a 200 with words is its "please
        # reinstall" answer (authorize found nothing), which must not count.
        if status != 200 or answer:
            raise RuntimeError(f"event for {team_id}: HTTP {status} {answer[:80]!r}")
        return took

    seconds, latencies = harness.drive(senders, jobs, work, side.contestant.port)
    return harness.Run(side.label, count, seconds, latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000, help="events per run")
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--teams", type=int, default=20, help="workspaces installed on each side")
    parser.add_argument("--rounds", type=int, default=3, help="turns of every side")
    parser.add_argument("--quick", action="store_true", help="300 events per run, 3 rounds")
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="run both servers under cProfile, write their profiles under DIR and print them; "
        "the figures are then the profiler's, not comparable",
    )
    args = parser.parse_args()
    count = 300 if args.quick else args.events
    rounds = 3 if args.quick else args.rounds
    if rounds < 3:
        parser.error("--rounds: at least 3 (a ratio is the median of its rounds)")
    contest = harness.prepare(bolt_app="benchmarks.peers.ours.build_app")
    ours, peer = contest.ours, contest.peer
    sides = [
        Side("slackinstall", ours),
        Side("cached Bolt", peer),
        Side("default Bolt", peer, "/slack/events/default-authorize"),
    ]
    teams = {
        ours.name: [f"TEVO{n:06d}" for n in range(args.teams)],
        peer.name: [f"TEVP{n:06d}" for n in range(args.teams)],
    }
    measured = {side.label: Rounds(side.label) for side in sides}
    folders = harness.profile_workers(contest, args.profile) if args.profile else {}
    try:
        with harness.serving(contest.contestants):
            print("Signed app_mention events: " + harness.describe(contest))
            for contestant in contest.contestants:
                install_teams(contest, contestant, teams[contestant.name])
            for side in sides:  # warm: each side's tokens, connections and code paths
                event_runs(contest, side, args.senders, 80, teams[side.contestant.name])
            print(harness.HEADER)
            for _ in range(rounds):
                for side in sides:
                    sent_to = teams[side.contestant.name]
                    measured[side.label].measure(
                        contest,
                        side.contestant.name,
                        count,
                        partial(event_runs, contest, side, args.senders, count, sent_to),
                        f"{args.senders} send",
                    )
    finally:
        contest.standin.stop()
    if folders:  # the servers have stopped: every worker wrote its profile
        served = {
            contestant.name: sum(
                80 + rounds * count for side in sides if side.contestant is contestant
            )
            for contestant in contest.contestants
        }
        harness.print_profiles(folders, served, "event", lines=60)
        return  # a profiled run's figures are the profiler's: nothing recorded
    what = f"events, {args.senders} senders, {database_label(contest.vendor)}"
    mine, cached = measured["slackinstall"], measured["cached Bolt"]
    compare(what, "event", mine, cached, target=TARGET_CPU_RATIO)
    compare(what, "event", mine, measured["default Bolt"], target=None)
    record(
        f"{what}: p99 ms, ours",
        "ms",
        rounds=mine.p99s,
        target=TARGET_P99_MS,
        direction="at most",
        beside=f"cached Bolt {median_of(cached.p99s, 'ms')}",
    )


if __name__ == "__main__":
    main()
