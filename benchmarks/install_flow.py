"""Install throughput: the whole Add to Slack flow over HTTP, slackinstall against a Bolt peer.

Run: BENCH_DATABASE_URL=postgres://... .venv/bin/python benchmarks/install_flow.py
     [--installs 100,400] [--rounds 3] [--quick] [--cpu] [--profile DIR]
Both contestants run under gunicorn with the project's gunicorn.conf.py (DJANGO_DEBUG off) on
the same database and the same Slack stand-in (a process of its own): slackinstall, and the
Bolt peer (benchmarks/peers/: Bolt's own OAuth flow, slack_sdk's SQLAlchemy stores). They are
driven alternately, us then the peer, ``--rounds`` times, with 1 and then 8 concurrent users
(threads, each a browser with its own cookies and one keep-alive connection); the medians
are compared. One install, as a browser does it: the install page (state cookie) -> Allow on
the stand-in for a new team id -> the callback with the cookie -> the success page (ours is a
redirect away; Bolt's callback renders its own). Each server calls oauth.v2.access and
auth.test on the stand-in. Without BENCH_DATABASE_URL it runs on SQLite. How the cores are
shared: benchmarks/peers/harness.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.peers import harness
from benchmarks.results import record

TARGET_RATE = 100.0  # installs/s with 8 users, gunicorn + PostgreSQL (issue 15)
TARGET_RATIO = 1.5  # times the Bolt peer's installs/s, same run


def install_runs(
    contest: harness.Contest, contestant: harness.Contestant, users: int, count: int, tag: str
) -> harness.Run:
    teams = [f"T{tag}{n:07d}" for n in range(count)]

    def work(browser: harness.Browser, team_id: str) -> float:
        return harness.install_once(browser, contest.standin, team_id)

    seconds, latencies = harness.drive(users, teams, work, contestant.port)
    return harness.Run(contestant.name, count, seconds, latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--installs", default="100,400", help="installs with 1 and 8 users")
    parser.add_argument("--rounds", type=int, default=3, help="alternations us/peer")
    parser.add_argument("--quick", action="store_true", help="30 and 150 installs, 3 rounds")
    parser.add_argument("--cpu", action="store_true", help="CPU ms per install of each process")
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="cProfile every worker thread of both servers (CPU clock) into DIR/<contestant>/ "
        "and print each server's profile; the rates are then the profiler's, not comparable",
    )
    args = parser.parse_args()
    single, eight = (30, 150) if args.quick else (int(n) for n in args.installs.split(","))
    rounds = 3 if args.quick else args.rounds
    contest = harness.prepare()
    folders = harness.profile_workers(contest, args.profile) if args.profile else {}
    try:
        with harness.serving(contest.contestants):
            print("Install flow over HTTP: " + harness.describe(contest))
            for contestant in contest.contestants:  # warm every worker before timing
                install_runs(contest, contestant, 8, 40, "W" + contestant.name[0].upper())
            print(harness.HEADER)
            runs: dict[tuple[str, int], list[harness.Run]] = {}
            for number in range(rounds):
                for users, count in ((1, single), (8, eight)):
                    for contestant in contest.contestants:
                        tag = f"{contestant.name[0].upper()}{number}{users}"
                        before = harness.cpu_snapshot(contest)
                        run = install_runs(contest, contestant, users, count, tag)
                        after = harness.cpu_snapshot(contest)
                        runs.setdefault((contestant.name, users), []).append(run)
                        print(run.line(f"{users} users"), flush=True)
                        if args.cpu:
                            print(harness.cpu_line(before, after, count), flush=True)
        if folders:  # the servers have stopped: every worker wrote its profile
            harness.print_profiles(folders, 40 + rounds * (single + eight))
            return  # a profiled run's rates are the profiler's: nothing recorded
        report(contest, runs, rounds, single, eight)
    finally:
        contest.standin.stop()


def report(
    contest: harness.Contest,
    runs: dict[tuple[str, int], list[harness.Run]],
    rounds: int,
    single: int,
    eight: int,
) -> None:
    from benchmarks.peers.peer_stores import count_installations
    from installations.models import Workspace

    print(f"Medians of {rounds} rounds (installs/s; p50 and p99 ms of one whole install):")
    for users in (1, 8):
        ours, peer = runs[("slackinstall", users)], runs[("bolt peer", users)]
        ratio = harness.median_rate(ours) / harness.median_rate(peer)
        for name, group in (("slackinstall", ours), ("bolt peer", peer)):
            p50 = statistics.median(statistics.median(run.latencies) for run in group) * 1000
            print(
                f"  {name:>13}, {users} users: {harness.median_rate(group):7.1f}/s "
                f"p50 {p50:6.1f} p99 {harness.median_p99(group):6.1f}"
            )
        print(f"  ratio, {users} users: {ratio:.2f}x the peer")
    expected = 40 + rounds * (single + eight)
    stored = Workspace.objects.count()
    peer_stored = count_installations(harness.sqlalchemy_url(contest.database_url), "1111.2222")
    assert stored == expected, (stored, expected)
    assert peer_stored == expected, (peer_stored, expected)
    print(f"(installs stored: {stored} each, all distinct teams)")
    ours_rate = harness.median_rate(runs[("slackinstall", 8)])
    ratio = ours_rate / harness.median_rate(runs[("bolt peer", 8)])
    if contest.vendor == "postgres":  # the targets are stated for gunicorn + PostgreSQL
        record("install flow, 8 users, PostgreSQL", ours_rate, "installs/s", TARGET_RATE)
        record("install flow vs Bolt peer, 8 users, PostgreSQL", ratio, "x peer", TARGET_RATIO)


if __name__ == "__main__":
    main()
