"""slack_refresh_tokens over 10,000 due workspaces against the local Slack stand-in.

Run: .venv/bin/python benchmarks/refresh.py [--workspaces 10000] [--latency 0.05] [--quick]

Every workspace holds a rotating bot token expiring in 30 minutes and its refresh token, both
minted in the stand-in's state (the tokens it would issue, never real). The command runs as cron
runs it, ``manage.py slack_refresh_tokens`` in a process of its own (jobs_process.py); the
stand-in, in this one, answers each oauth.v2.access after ``--latency`` seconds (default 50 ms)
and honours each refresh token once, as Slack does. Printed and recorded (results.py):
1. one runner: refreshes per second at the command's default concurrency (target 150/s);
2. PostgreSQL only: every token due again, two runners started at once over the same
   workspaces: refresh tokens sent to Slack twice (target 0: each is claimed before it is spent)
   and workspaces refreshed twice or not at all (target 0).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bootstrap import database_label, setup_django, start_standin
from benchmarks.jobs_process import JobRun, finish, start
from benchmarks.jobs_process import run as run_job
from benchmarks.results import record

if TYPE_CHECKING:
    from slackstandin import SlackStandIn

CLIENT_ID = "1111.2222"
REFRESHES_PER_SECOND_TARGET = 150
DUE_IN = timedelta(minutes=30)  # inside the default window (SLACK_TOKEN_ROTATION_MINUTES, 120)


def load(standin: SlackStandIn, count: int) -> None:
    """``count`` workspaces with a rotating bot token due soon and its live refresh token."""
    from django.utils import timezone

    from installations.models import Workspace
    from slackstandin.state import BOT_USER_ID
    from slackstandin.tokens import mint_bot, mint_refresh

    expires = timezone.now() + DUE_IN
    rows = []
    for n in range(count):
        team_id = f"T0R{n:08d}"
        access = mint_bot(
            standin.state,
            team_id,
            team_name=f"Refresh team {n}",
            scopes="commands,chat:write",
            expires_at=expires.timestamp(),
        )
        refresh = mint_refresh(standin.state, access)
        rows.append(
            Workspace(
                client_id=CLIENT_ID,
                team_id=team_id,
                team_name=f"Refresh team {n}",
                bot_token=access.token,
                bot_refresh_token=refresh.token,
                bot_token_expires_at=expires,
                bot_user_id=BOT_USER_ID,
            )
        )
        if len(rows) == 2000:
            Workspace.objects.bulk_create(rows)
            rows = []
    Workspace.objects.bulk_create(rows)


def make_due_again() -> None:
    """Every workspace's (already refreshed) token expires in 30 minutes again."""
    from django.utils import timezone

    from installations.models import Workspace

    Workspace.objects.update(bot_token_expires_at=timezone.now() + DUE_IN)


def reset(standin: SlackStandIn, latency: float) -> None:
    with standin.state.lock:
        standin.state.calls.clear()
        standin.state.issued.clear()
        standin.state.faults.pop("oauth.v2.access", None)
    if latency:
        standin.fail_next("oauth.v2.access", delay=latency, times=10**9)


def spent_twice(standin: SlackStandIn) -> int:
    """Refresh tokens Slack received more than once (the stand-in refuses every repeat)."""
    sent = Counter(
        call.params.get("refresh_token")
        for call in standin.calls_to("oauth.v2.access")
        if call.params.get("grant_type") == "refresh_token"
    )
    return sum(times - 1 for times in sent.values() if times > 1)


def not_refreshed(count: int) -> int:
    """Workspaces whose token is still due (refreshed by nobody)."""
    from django.utils import timezone

    from installations.models import Workspace

    fresh = Workspace.objects.filter(bot_token_expires_at__gt=timezone.now() + 2 * DUE_IN)
    return count - fresh.count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspaces", type=int, default=10_000)
    parser.add_argument(
        "--latency", type=float, default=0.05, help="seconds the stand-in waits per refresh"
    )
    parser.add_argument("--quick", action="store_true", help="2,000 workspaces")
    args = parser.parse_args()
    count = 2000 if args.quick else args.workspaces
    standin = start_standin(CLIENT_ID, DJANGO_LOG_LEVEL="ERROR")
    database = database_label(setup_django())
    load(standin, count)
    ms = f"{args.latency * 1000:.0f} ms"
    print(f"slack_refresh_tokens over {count} due workspaces on {database}, stand-in answering "
          f"after {ms}")  # fmt: skip
    print(f"{'runners':>7} {'refreshed':>9} {'skipped':>7} {'failed':>6} {'seconds':>8} "
          f"{'refr/s':>7} {'peak RSS':>9} {'CPU/refr':>8} {'spent twice':>11} "
          f"{'left due':>8}")  # fmt: skip

    def line(runners: int, jobs: list[JobRun], seconds: float) -> int:
        refreshed = sum(job.count("refreshed") for job in jobs)
        twice, left = spent_twice(standin), not_refreshed(count)
        print(
            f"{runners:>7} {refreshed:>9} {sum(j.count('skipped') for j in jobs):>7} "
            f"{sum(j.count('failed') for j in jobs):>6} {seconds:>8.1f} "
            f"{refreshed / seconds:>7.0f} {max(j.peak_rss_mib for j in jobs):>6.0f} MiB "
            f"{sum(j.cpu_seconds for j in jobs) * 1000 / max(refreshed, 1):>5.1f} ms "
            f"{twice:>11} {left:>8}"
        )
        return refreshed

    reset(standin, args.latency)
    job = run_job("slack_refresh_tokens")
    refreshed = line(1, [job], job.seconds)
    record(
        f"slack_refresh_tokens, {count:,} due, Slack at {ms}, one runner, {database}",
        "refreshes/s",
        value=refreshed / job.seconds,
        target=REFRESHES_PER_SECOND_TARGET,
        beside=f"{job.cpu_seconds * 1000 / max(refreshed, 1):.1f} ms CPU a refresh",
    )
    if database == "SQLite":
        print("two runners at once: PostgreSQL only (BENCH_DATABASE_URL)")
        standin.stop()
        return
    make_due_again()
    reset(standin, args.latency)
    started = time.perf_counter()
    both = [start("slack_refresh_tokens"), start("slack_refresh_tokens")]
    jobs = [finish(process, started) for process in both]
    refreshed = line(2, jobs, max(job.seconds for job in jobs))
    twice = spent_twice(standin)
    record(
        f"slack_refresh_tokens, two runners, {database}: refresh tokens spent twice",
        "tokens",
        value=twice,
        target=0,
        direction="at most",
    )
    record(
        f"slack_refresh_tokens, two runners, {database}: workspaces refreshed twice or not at all",
        "workspaces",
        value=abs(count - refreshed) + not_refreshed(count),
        target=0,
        direction="at most",
    )
    standin.stop()


if __name__ == "__main__":
    main()
