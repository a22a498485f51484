"""slack_verify over 10,000 installations against the local Slack stand-in (real HTTP, loopback).

Run: .venv/bin/python benchmarks/verify.py [--workspaces 10000] [--concurrency 1,4,16] [--quick]
Prints verifications per second at the command's default concurrency and at each
``--concurrency``, then two rate-limit runs at the default concurrency: the stand-in answers
``auth.test`` with HTTP 429 and ``Retry-After: 1`` for the next N calls (N = 2x and 8x the
concurrency). slack_verify must wait those out and never mark a workspace dead for them.
Every run starts from health "unknown", so each check writes its row and one lifecycle event.
Bot tokens are minted fresh in the stand-in's state (the tokens it would issue), never real.
"""

from __future__ import annotations

import argparse
import io
import logging
import time
from collections import Counter
from typing import TYPE_CHECKING

from bootstrap import setup_django, start_standin

if TYPE_CHECKING:
    from slackstandin import SlackStandIn

CLIENT_ID = "1111.2222"


def load(standin: SlackStandIn, count: int) -> None:
    """``count`` workspaces whose bot tokens the stand-in knows (as if it had issued them)."""
    from installations.models import Workspace
    from slackstandin.state import BOT_USER_ID, TokenRecord
    from slackstandin.tokens import token_value

    rows = []
    for n in range(count):
        team_id = f"T0V{n:08d}"
        record = standin.state.add_token(
            TokenRecord(
                token=token_value("bot", rotating=False),
                kind="bot",
                team_id=team_id,
                team_name=f"Verify team {n}",
                enterprise_id=None,
                enterprise_name=None,
                user_id=BOT_USER_ID,
                scopes="commands,chat:write",
                is_enterprise_install=False,
            )
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
    Workspace.objects.bulk_create(rows, batch_size=2000)


def default_concurrency() -> int:
    from installations.management.commands.slack_verify import Command

    return int(Command().create_parser("manage.py", "slack_verify").get_default("concurrency"))


def run(standin: SlackStandIn, concurrency: int) -> tuple[float, Counter[str], bool, int]:
    """(seconds, health counts, command exited 0, auth.test calls received) for one run."""
    from django.core.management import CommandError, call_command

    from installations.models import Workspace

    Workspace.objects.update(
        health="unknown", bot_scopes="", last_verified_at=None, verify_failures=0, last_error=""
    )
    with standin.state.lock:
        standin.state.calls.clear()
    ok = True
    started = time.perf_counter()
    try:
        call_command("slack_verify", concurrency=concurrency, stdout=io.StringIO())
    except CommandError:
        ok = False  # some workspaces stayed rate-limited: health unknown, exit 1
    elapsed = time.perf_counter() - started
    health = Counter(Workspace.objects.values_list("health", flat=True))
    return elapsed, health, ok, len(standin.calls_to("auth.test"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspaces", type=int, default=10_000)
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds the stand-in waits per auth.test"
    )
    parser.add_argument("--quick", action="store_true", help="1,000 workspaces; 1 and 16")
    args = parser.parse_args()
    count = 1000 if args.quick else args.workspaces
    wanted = "1,16" if args.quick else args.concurrency
    # one INFO line per workspace would time the log, not the check
    standin = start_standin(CLIENT_ID, DJANGO_LOG_LEVEL="ERROR")
    vendor = setup_django()
    logging.getLogger("slack_sdk").setLevel(logging.WARNING)  # its INFO line per 429 retry
    load(standin, count)
    default = default_concurrency()
    levels = sorted({default, *(int(c) for c in wanted.split(","))})
    latency = f", {args.latency * 1000:.0f} ms per auth.test" if args.latency else ""
    print(f"slack_verify over {count} installations on {vendor}, stand-in on loopback{latency}")
    print(f"{'concurrency':>11} {'seconds':>8} {'verif/s':>8} {'auth.test':>9}  health")
    for level in levels:
        if args.latency:  # like Slack's round trip: the threads then wait instead of compute
            standin.fail_next("auth.test", delay=args.latency, times=count)
        elapsed, health, ok, calls = run(standin, level)
        mark = " (default)" if level == default else ""
        print(
            f"{level:>11} {elapsed:>8.1f} {count / elapsed:>8.0f} {calls:>9}  "
            f"{dict(health)}{'' if ok else ' exit 1'}{mark}"
        )
    print(f"\n429 with Retry-After: 1 on the next N auth.test calls, concurrency {default}")
    print(f"{'N':>5} {'seconds':>8} {'auth.test':>9} {'dead':>5} {'unknown':>7} {'exit':>5}")
    for n in (2 * default, 8 * default):
        standin.fail_next("auth.test", status=429, retry_after=1, times=n)
        elapsed, health, ok, calls = run(standin, default)
        print(
            f"{n:>5} {elapsed:>8.1f} {calls:>9} {health.get('dead', 0):>5} "
            f"{health.get('unknown', 0):>7} {'0' if ok else '1':>5}"
        )
        assert health.get("dead", 0) == 0, "a rate limit marked a workspace dead"
    standin.stop()


if __name__ == "__main__":
    main()
