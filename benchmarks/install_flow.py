"""Installs over HTTP: the whole Add to Slack flow, slackinstall against a Bolt peer.

Run: BENCH_DATABASE_URL=postgres://... .venv/bin/python benchmarks/install_flow.py
     [--installs 100,400] [--rounds 3] [--quick] [--profile DIR] [--peer-stores django]
Both contestants run under gunicorn with the project's gunicorn.conf.py (DJANGO_DEBUG off) on
the same database and the same Slack stand-in (a process of its own): slackinstall, and the
Bolt peer (benchmarks/peers/: Bolt's own OAuth flow, slack_sdk's SQLAlchemy stores). They are
driven alternately, us then the peer, ``--rounds`` times, with 1 and then 8 concurrent users
(threads, each a browser with its own cookies and one keep-alive connection), and compared
round by round (benchmarks/peers/rounds.py): CPU ms per install of the server and of all
processes (the headline), installs/s and p99. One install, as a browser does it: the install
page (state cookie) -> Allow on the stand-in for a new team id -> the callback with the cookie
-> the success page (ours is a redirect away, so a reload never replays a spent code; Bolt's
callback renders its own). Each server calls oauth.v2.access and auth.test on the stand-in.
``--peer-stores django`` runs the peer as bolt-python's examples/django has it (its Django-model
stores and middleware: peers/bolt_settings.py), reported beside the headline without a target.
Beside the headline too, each round with 8 users: ours with the redirect not followed (install
page and callback, the two requests Bolt's flow makes), to show what the third request costs.
Without BENCH_DATABASE_URL it runs on SQLite. How the cores are shared: peers/harness.py.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bootstrap import database_label
from benchmarks.peers import harness
from benchmarks.peers.rounds import Rounds, compare
from benchmarks.results import median_of, ratios, record

TARGET_RATE = 100.0  # installs/s with 8 users
TARGET_CPU_RATIO = 1.0  # CPU ms per install, times the Bolt peer's, round by round


UNFOLLOWED = "slackinstall, redirect not followed"


def install_runs(
    contest: harness.Contest,
    contestant: harness.Contestant,
    users: int,
    count: int,
    tag: str,
    follow: bool = True,
) -> harness.Run:
    teams = [f"T{tag}{n:07d}" for n in range(count)]

    def work(browser: harness.Browser, team_id: str) -> float:
        return harness.install_once(browser, contest.standin, team_id, follow=follow)

    seconds, latencies = harness.drive(users, teams, work, contestant.port)
    return harness.Run(contestant.name, count, seconds, latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--installs", default="100,400", help="installs with 1 and 8 users")
    parser.add_argument("--rounds", type=int, default=3, help="alternations us/peer")
    parser.add_argument("--quick", action="store_true", help="30 and 150 installs, 3 rounds")
    parser.add_argument(
        "--peer-stores",
        choices=("sqlalchemy", "django"),
        default="sqlalchemy",
        help="the peer's stores: slack_sdk's SQLAlchemy ones (the headline, with the targets), "
        "or bolt-python's examples/django Django-model ones, wired as that example (reported "
        "beside, no target)",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="cProfile every worker thread of both servers (CPU clock) into DIR/<contestant>/ "
        "and print each server's profile; the rates are then the profiler's, not comparable",
    )
    args = parser.parse_args()
    single, eight = (30, 150) if args.quick else (int(n) for n in args.installs.split(","))
    rounds = 3 if args.quick else args.rounds
    if rounds < 3:
        parser.error("--rounds: at least 3 (a ratio is the median of its rounds)")
    contest = harness.prepare(peer_stores=args.peer_stores)
    folders = harness.profile_workers(contest, args.profile) if args.profile else {}
    measured = {
        (contestant.name, users): Rounds(contestant.name)
        for contestant in contest.contestants
        for users in (1, 8)
    }
    ours = contest.ours
    # Beside the headline: ours stopping at the redirect, the two requests Bolt's flow makes.
    unfollowed = Rounds(UNFOLLOWED) if args.peer_stores == "sqlalchemy" and not folders else None
    try:
        with harness.serving(contest.contestants):
            print("Install flow over HTTP: " + harness.describe(contest))
            for contestant in contest.contestants:  # warm every worker before timing
                install_runs(contest, contestant, 8, 40, "W" + contestant.name[0].upper())
            print(harness.HEADER)
            for number in range(rounds):
                for users, count in ((1, single), (8, eight)):
                    for contestant in contest.contestants:
                        tag = f"{contestant.name[0].upper()}{number}{users}"
                        measured[(contestant.name, users)].measure(
                            contest,
                            contestant.name,
                            count,
                            partial(install_runs, contest, contestant, users, count, tag),
                            f"{users} users",
                        )
                if unfollowed is not None:
                    unfollowed.measure(
                        contest,
                        ours.name,
                        eight,
                        partial(install_runs, contest, ours, 8, eight, f"N{number}8", False),
                        "8 users, redirect not followed",
                    )
        if folders:  # the servers have stopped: every worker wrote its profile
            served = 40 + rounds * (single + eight)
            harness.print_profiles(folders, dict.fromkeys(folders, served), "install")
            return  # a profiled run's rates are the profiler's: nothing recorded
        expected = 40 + rounds * (single + eight)
        check_stored(contest, expected, expected + (rounds * eight if unfollowed else 0))
        report(contest, measured, args.peer_stores)
        if unfollowed is not None:
            peer = measured[("bolt peer", 8)]
            record(
                f"installs, 8 users, {database_label(contest.vendor)}: CPU ms per install, "
                "server, ours with the redirect not followed / Bolt",
                "x peer",
                rounds=ratios(unfollowed.server_ms, peer.server_ms),
                direction="at most",
                beside=f"ours {median_of(unfollowed.server_ms, 'ms')}, "
                f"Bolt {median_of(peer.server_ms, 'ms')}",
            )
    finally:
        contest.standin.stop()


def check_stored(contest: harness.Contest, peer_expected: int, ours_expected: int) -> None:
    """Every install was saved, on both sides (a fast flow that saves nothing wins nothing)."""
    from benchmarks.peers.peer_stores import count_installations
    from installations.models import Workspace

    stored = Workspace.objects.count()
    peer_stored = count_installations(contest.peer.env)
    assert stored == ours_expected, (stored, ours_expected)
    assert peer_stored == peer_expected, (peer_stored, peer_expected)
    print(f"(installs stored, all distinct teams: ours {stored}, the peer {peer_stored})")


def report(
    contest: harness.Contest, measured: dict[tuple[str, int], Rounds], peer_stores: str
) -> None:
    for users in (1, 8):
        ours, peer = measured[("slackinstall", users)], measured[("bolt peer", users)]
        peer.label = "Bolt" if peer_stores == "sqlalchemy" else "Bolt with example Django stores"
        if users == 1:  # printed, not recorded: the targets are about 8 users
            for side in (ours, peer):
                print(
                    f"  1 user, {side.label}: {median_of(side.rates, 'installs/s')}, "
                    f"server {median_of(side.server_ms, 'ms')} CPU per install"
                )
            continue
        what = f"installs, 8 users, {database_label(contest.vendor)}"
        if peer_stores == "django":  # beside the headline: the ratios only, no target
            compare(what, "install", ours, peer, target=None)
            continue
        compare(what, "install", ours, peer, target=TARGET_CPU_RATIO)
        record(
            f"{what}: installs/s, ours",
            "installs/s",
            rounds=ours.rates,
            target=TARGET_RATE,
            beside=f"Bolt {median_of(peer.rates, 'installs/s')}",
        )
        record(
            f"{what}: p99 ms, ours",
            "ms",
            rounds=ours.p99s,
            beside=f"Bolt {median_of(peer.p99s, 'ms')}",
        )


if __name__ == "__main__":
    main()
