"""Signed events through the one Request URL: slackinstall against a Bolt peer, side by side.

Run: BENCH_DATABASE_URL=postgres://... .venv/bin/python benchmarks/events.py
     [--events 1000] [--senders 8] [--rounds 3] [--quick]
Both contestants serve the same Bolt listener (benchmarks/peers/listeners.py: answer an
app_mention with ``say``, i.e. chat.postMessage with the workspace's bot token): ours is the
developer's Bolt app behind ``/slack/events`` (installations/bolt/request_url.py) on our
encrypted store (SLACK_BOLT_APP=benchmarks.peers.ours.build_app), the peer a plain Bolt app on
slack_sdk's SQLAlchemy store. Both under the project's gunicorn.conf.py, same database, same
stand-in (its own process). First each installs ``--teams`` workspaces through its own flow;
then ``--senders`` threads (one keep-alive connection each) POST signed app_mention events for
those teams, alternately to us and to the peer, ``--rounds`` times. A response is counted when
it is an empty 200 (Bolt's acknowledgement once the listener has run: process_before_response
is on for both, see benchmarks/peers/ours.py). Prints events/s and p50/p99 latency of each,
and the ratio.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.peers import harness
from benchmarks.results import record
from slackstandin import events as standin_events
from slackstandin import messaging

TARGET_RATIO = 1.5  # times the Bolt peer's events/s, same run (issue 15)
TARGET_P99_MS = 100.0


def install_teams(
    contest: harness.Contest, contestant: harness.Contestant, teams: list[str]
) -> None:
    def work(browser: harness.Browser, team_id: str) -> float:
        return harness.install_once(browser, contest.standin, team_id)

    harness.drive(8, teams, work, contestant.port)


def event_runs(
    contest: harness.Contest,
    contestant: harness.Contestant,
    senders: int,
    count: int,
    teams: list[str],
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
        status, _, answer = browser.request("POST", "/slack/events", body, headers)
        took = time.perf_counter() - started
        # Bolt acknowledges an event with an empty 200; a 200 with words is its "please
        # reinstall" answer (authorize found nothing), which must not count.
        if status != 200 or answer:
            raise RuntimeError(f"event for {team_id}: HTTP {status} {answer[:80]!r}")
        return took

    seconds, latencies = harness.drive(senders, jobs, work, contestant.port)
    return harness.Run(contestant.name, count, seconds, latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000, help="events per run")
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--teams", type=int, default=20, help="workspaces installed on each side")
    parser.add_argument("--rounds", type=int, default=3, help="alternations us/peer")
    parser.add_argument("--quick", action="store_true", help="300 events per run, 3 rounds")
    parser.add_argument("--cpu", action="store_true", help="CPU ms per event of each process")
    args = parser.parse_args()
    count = 300 if args.quick else args.events
    rounds = 3 if args.quick else args.rounds
    contest = harness.prepare(bolt_app="benchmarks.peers.ours.build_app")
    teams = {
        contest.ours.name: [f"TEVO{n:06d}" for n in range(args.teams)],
        contest.peer.name: [f"TEVP{n:06d}" for n in range(args.teams)],
    }
    try:
        with harness.serving(contest.contestants):
            print("Signed app_mention events: " + harness.describe(contest))
            for contestant in contest.contestants:
                install_teams(contest, contestant, teams[contestant.name])
                event_runs(contest, contestant, args.senders, 80, teams[contestant.name])  # warm
            print(harness.HEADER)
            runs: dict[str, list[harness.Run]] = {}
            for _ in range(rounds):
                for contestant in contest.contestants:
                    before = harness.cpu_snapshot(contest)
                    run = event_runs(
                        contest, contestant, args.senders, count, teams[contestant.name]
                    )
                    after = harness.cpu_snapshot(contest)
                    runs.setdefault(contestant.name, []).append(run)
                    print(run.line(f"{args.senders} send"), flush=True)
                    if args.cpu:
                        print(harness.cpu_line(before, after, count), flush=True)
    finally:
        contest.standin.stop()
    ours, peer = runs[contest.ours.name], runs[contest.peer.name]
    ratio = harness.median_rate(ours) / harness.median_rate(peer)
    pooled = [latency for run in ours for latency in run.latencies]
    ours_p99 = harness.p99(pooled) * 1000
    print(f"Medians of {rounds} rounds, {args.senders} senders:")
    for name, group in ((contest.ours.name, ours), (contest.peer.name, peer)):
        every = [latency for run in group for latency in run.latencies]
        print(
            f"  {name:>13}: {harness.median_rate(group):7.1f} events/s, "
            f"p99 {harness.p99(every) * 1000:6.1f} ms (all {len(every)} events)"
        )
    print(f"  ratio: {ratio:.2f}x the peer")
    vendor = "PostgreSQL" if contest.vendor == "postgres" else "SQLite"
    senders = f"{args.senders} senders, {vendor}"
    record(f"signed events vs Bolt peer, {senders}", ratio, "x peer", TARGET_RATIO)
    record(f"signed events p99, {senders}", ours_p99, "ms", TARGET_P99_MS, "at most")


if __name__ == "__main__":
    main()
