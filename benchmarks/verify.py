"""slack_verify over 10,000 installations against the local Slack stand-in (real HTTP, loopback).

Run: .venv/bin/python benchmarks/verify.py [--workspaces 10000] [--latency 0.05] [--quick]
     [--concurrency 1,4,16]

The command runs as cron runs it: ``manage.py slack_verify`` in a process of its own
(jobs_process.py), the stand-in in this one, answering each auth.test after ``--latency`` seconds
(Slack's round trip; default 50 ms). Printed and recorded (results.py):
1. checks per second over every workspace at the command's default concurrency (target 300/s);
2. the command's peak RSS over every workspace and over a fifth of them (``--shard 1/5``): the
   same when memory is flat in the number of workspaces;
3. at each ``--concurrency`` (optional), checks per second over the same workspaces;
4. two rate-limit runs over ~2,000 of them at the default concurrency: the stand-in answers
   auth.test with HTTP 429 and ``Retry-After: 1`` for the next N calls (N = 2x and 8x the
   concurrency). slack_verify must wait those out and never mark a workspace dead for them.
Every run starts from health "unknown", so each check writes its row and one lifecycle event.
Bot tokens are minted fresh in the stand-in's state (the tokens it would issue), never real.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bootstrap import database_label, setup_django, start_standin
from benchmarks.jobs_process import JobRun
from benchmarks.jobs_process import run as run_job
from benchmarks.results import record

if TYPE_CHECKING:
    from slackstandin import SlackStandIn

CLIENT_ID = "1111.2222"
CHECKS_PER_SECOND_TARGET = 300
FLAT_MEMORY_RATIO = 1.10  # peak RSS over all workspaces / over a fifth of them, at most


def load(standin: SlackStandIn, count: int) -> None:
    """``count`` workspaces whose bot tokens the stand-in knows (as if it had issued them)."""
    from installations.models import Workspace
    from slackstandin.state import BOT_USER_ID
    from slackstandin.tokens import mint_bot

    rows = []
    for n in range(count):
        team_id = f"T0V{n:08d}"
        record = mint_bot(
            standin.state, team_id, team_name=f"Verify team {n}", scopes="commands,chat:write"
        )
        rows.append(
            Workspace(
                client_id=CLIENT_ID,
                team_id=team_id,
                team_name=f"Verify team {n}",
                bot_token=record.token,
                bot_user_id=BOT_USER_ID,
            )
        )
        if len(rows) == 2000:
            Workspace.objects.bulk_create(rows)
            rows = []
    Workspace.objects.bulk_create(rows)


def default_concurrency() -> int:
    from installations.management.commands.slack_verify import Command

    return int(Command().create_parser("manage.py", "slack_verify").get_default("concurrency"))


def run(
    standin: SlackStandIn, concurrency: int, *, shard: str = "1/1", latency: float = 0.0
) -> tuple[JobRun, Counter[str], int]:
    """(the job's run, health counts, auth.test calls received) for one run of the command."""
    from installations.models import Workspace

    Workspace.objects.update(
        health="unknown", bot_scopes="", last_verified_at=None, verify_failures=0, last_error=""
    )
    with standin.state.lock:
        standin.state.calls.clear()
    if latency:  # like Slack's round trip: the threads then wait instead of compute
        standin.fail_next("auth.test", delay=latency, times=10**9)
    job = run_job("slack_verify", "--concurrency", str(concurrency), "--shard", shard)
    with standin.state.lock:
        standin.state.faults.pop("auth.test", None)  # the delay, and any 429 left unused
    health = Counter(Workspace.objects.values_list("health", flat=True))
    return job, health, len(standin.calls_to("auth.test"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspaces", type=int, default=10_000)
    parser.add_argument(
        "--concurrency", default="", help="extra levels to time, e.g. 1,4,16 (default: none)"
    )
    parser.add_argument(
        "--latency", type=float, default=0.05, help="seconds the stand-in waits per auth.test"
    )
    parser.add_argument("--quick", action="store_true", help="2,000 workspaces")
    args = parser.parse_args()
    count = 2000 if args.quick else args.workspaces
    # one INFO line per workspace would time the log, not the check
    standin = start_standin(CLIENT_ID, DJANGO_LOG_LEVEL="ERROR")
    database = database_label(setup_django())
    logging.getLogger("slack_sdk").setLevel(logging.WARNING)  # its INFO line per 429 retry
    load(standin, count)
    default = default_concurrency()
    ms = f"{args.latency * 1000:.0f} ms"
    print(f"slack_verify over {count} installations on {database}, stand-in answering after {ms}")
    print(f"{'concurrency':>11} {'shard':>5} {'checked':>7} {'seconds':>8} {'checks/s':>8} "
          f"{'peak RSS':>9} {'CPU/check':>9}  health")  # fmt: skip

    def line(level: int, shard: str, job: JobRun, health: Counter[str], note: str = "") -> None:
        checked = job.count("checked")
        print(
            f"{level:>11} {shard:>5} {checked:>7} {job.seconds:>8.1f} "
            f"{checked / job.seconds:>8.0f} {job.peak_rss_mib:>6.0f} MiB "
            f"{job.cpu_seconds * 1000 / max(checked, 1):>6.2f} ms  {dict(health)}"
            f"{'' if job.exit_code == 0 else ' exit 1'}{note}"
        )

    job, health, _ = run(standin, default, latency=args.latency)
    line(default, "1/1", job, health, " (default)")
    record(
        f"slack_verify, {count:,} workspaces, Slack at {ms}, {database}",
        "checks/s",
        value=job.count("checked") / job.seconds,
        target=CHECKS_PER_SECOND_TARGET,
        beside=f"{job.cpu_seconds * 1000 / max(job.count('checked'), 1):.1f} ms CPU a check, "
        f"{default} threads",
    )
    fifth, fifth_health, _ = run(standin, default, shard="1/5", latency=args.latency)
    line(default, "1/5", fifth, fifth_health)
    record(
        f"slack_verify peak RSS, {count:,} / ~{count // 5:,} workspaces, {database}",
        "x",
        value=job.peak_rss_mib / fifth.peak_rss_mib,
        target=FLAT_MEMORY_RATIO,
        direction="at most",
        beside=f"{job.peak_rss_mib:.0f} / {fifth.peak_rss_mib:.0f} MiB",
    )
    for level in sorted({int(c) for c in args.concurrency.split(",") if c.strip()} - {default}):
        job, health, _ = run(standin, level, latency=args.latency)
        line(level, "1/1", job, health)

    shard = f"1/{max(1, count // 2000)}"  # ~2,000 workspaces
    print(f"\n429 with Retry-After: 1 on the next N auth.test calls, concurrency {default}, "
          f"shard {shard}, {ms}")  # fmt: skip
    print(f"{'N':>5} {'checked':>7} {'seconds':>8} {'auth.test':>9} {'dead':>5} {'unknown':>7} "
          f"{'exit':>5}")  # fmt: skip
    for n in (0, 2 * default, 8 * default):
        if n:
            standin.fail_next("auth.test", status=429, retry_after=1, times=n)
        job, health, calls = run(standin, default, shard=shard, latency=args.latency)
        print(
            f"{n:>5} {job.count('checked'):>7} {job.seconds:>8.1f} {calls:>9} "
            f"{job.count('dead'):>5} {job.count('unknown'):>7} {job.exit_code:>5}"
        )
        assert job.count("dead") == 0, "a rate limit marked a workspace dead"
    standin.stop()


if __name__ == "__main__":
    main()
