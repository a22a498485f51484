"""The one line a scheduled job ends with, for monitoring: ``<job>: key=value ... status=ok``,
printed last whether the job succeeded or not (non-zero exit and ``status=failed`` on failure)."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils import timezone

from installations.lifecycle.sharding import Shard
from installations.models import JobRun

logger = logging.getLogger(__name__)


def shard_argument(text: str) -> Shard:
    """argparse type for ``--shard I/N``: a plain usage error on a bad value."""
    try:
        return Shard.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_job_options(parser: argparse.ArgumentParser, *, concurrency: int, calls: str) -> None:
    """``--concurrency`` (how many ``calls`` at once) and ``--shard``."""
    parser.add_argument(
        "--concurrency",
        type=int,
        default=concurrency,
        help=f"{calls} at once (default {concurrency})",
    )
    parser.add_argument(
        "--shard",
        type=shard_argument,
        default=Shard(1, 1),
        metavar="I/N",
        help="only the workspaces of shard I of N (by primary key; the same on every host), so "
        "N hosts can split the work: 1/2 on one, 2/2 on the other (default 1/1: all)",
    )


def summary_line(
    job: str, started: float, shard: Shard | None, failure: bool, /, **counts: int
) -> str:
    """``job: a=1 b=2 shard=1/2 seconds=0.42 status=ok`` (counts in the order given); the run is
    noted for ``/metrics`` as well (``record_run``)."""
    fields = [f"{name}={value}" for name, value in counts.items()]
    if shard is not None:
        fields.append(f"shard={shard.label}")
    fields.append(f"seconds={time.monotonic() - started:.2f}")
    fields.append(f"status={'failed' if failure else 'ok'}")
    record_run(job, failed=failure)
    return f"{job}: " + " ".join(fields)


def record_run(job: str, *, failed: bool) -> None:
    """Note when ``job`` ended and whether it worked (JobRun), for ``/metrics``'s alert on jobs
    that stopped running. A database that refuses the write costs the note, never the job."""
    now = timezone.now()
    values: dict[str, object] = {"last_finished_at": now, "last_failed": failed}
    if not failed:
        values["last_succeeded_at"] = now
    try:
        JobRun.objects.update_or_create(job=job, defaults=values)
    except DatabaseError as exc:
        logger.warning("%s: its run could not be noted for /metrics (%s)", job, type(exc).__name__)


def finish(command: BaseCommand, problems: list[str], summary: Callable[[bool], str]) -> None:
    """End a job: problems on stderr, the summary line on stdout, then the last problem (the one
    an operator must act on) as the command's one error line (non-zero exit)."""
    for line in problems[:-1]:
        command.stderr.write(line)
    command.stdout.write(summary(bool(problems)))
    if problems:
        raise CommandError(problems[-1])
