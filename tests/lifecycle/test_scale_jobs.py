"""Scheduled jobs the way operators run them: --shard I/N, one summary line, the deploy/ units."""

from __future__ import annotations

import configparser
import io
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from hypothesis import given, settings
from hypothesis import strategies as st

from installations.lifecycle.sharding import Shard
from installations.models import JobRun

ROOT = Path(__file__).resolve().parents[2]
JOBS = ("slack_verify", "slack_refresh_tokens", "slack_purge_states", "slack_purge_history")
UNSHARDED = ("slack_purge_states", "slack_purge_history")


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.uuids(), min_size=1, max_size=40, unique=True), st.integers(1, 7))
def test_shards_split_every_workspace_exactly_once(pks: list[uuid.UUID], count: int) -> None:
    shards = [Shard(index, count) for index in range(1, count + 1)]
    for pk in pks:
        assert sum(shard.holds(pk) for shard in shards) == 1
        assert sum(shard.holds(str(pk)) for shard in shards) == 1  # same answer from text


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "a/b", "1", "1/2/3", "-1/2", ""])
def test_a_malformed_shard_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="I/N"):
        Shard.parse(text)


def test_the_shard_option_is_a_usage_error_not_a_traceback() -> None:
    with pytest.raises(CommandError, match="I/N"):
        call_command("slack_verify", "--shard", "3/2", stdout=io.StringIO())


SUMMARY = {
    "slack_verify": r"slack_verify: checked=\d+ ok=\d+ suspect=\d+ dead=\d+ unknown=\d+ "
    r"undecryptable=\d+ errors=\d+ shard=1/2 seconds=[\d.]+ status=ok",
    "slack_refresh_tokens": r"slack_refresh_tokens: due=\d+ refreshed=\d+ skipped=\d+ failed=\d+ "
    r"undecryptable=\d+ errors=\d+ shard=1/2 seconds=[\d.]+ status=ok",
    "slack_purge_states": r"slack_purge_states: deleted=\d+ seconds=[\d.]+ status=ok",
    "slack_purge_history": r"slack_purge_history: workspaces_forgotten=\d+ events_deleted=\d+ "
    r"installations_deleted=\d+ seconds=[\d.]+ status=ok",
}


@pytest.mark.django_db
@pytest.mark.parametrize("job", JOBS)
def test_each_job_ends_with_one_summary_line(job: str) -> None:
    out = io.StringIO()
    args = [] if job in UNSHARDED else ["--shard", "1/2"]
    call_command(job, *args, stdout=out, stderr=io.StringIO())
    lines = out.getvalue().strip().splitlines()
    assert re.fullmatch(SUMMARY[job], lines[-1]), lines[-1]
    assert sum(line.startswith(f"{job}: ") for line in lines) == 1
    run = JobRun.objects.get(job=job)  # noted for /metrics' "job stopped running" alert
    assert not run.last_failed and run.last_succeeded_at == run.last_finished_at


@pytest.mark.django_db(transaction=True)
def test_a_failed_verify_says_so_in_its_summary_and_exits_non_zero(
    standin: Any, install: Any
) -> None:
    install()
    standin.fail_next("auth.test", drop=True, times=5)
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("slack_verify", "--concurrency", "1", stdout=out, stderr=io.StringIO())
    last = out.getvalue().strip().splitlines()[-1]
    assert last.startswith("slack_verify: checked=1 ") and last.endswith("status=failed"), last
    assert " unknown=1 " in last and " errors=1 " in last
    run = JobRun.objects.get(job="slack_verify")
    assert run.last_failed and run.last_succeeded_at is None


# --- deploy/ --------------------------------------------------------------------------------------


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


# What a refresh run stopped by SIGTERM needs to store the pairs Slack already issued: the
# slowest refresh at Slack plus the database patience (docs/production.md).
GRACEFUL_STOP_SECONDS = 180


def test_systemd_timers_run_each_job_persistently_with_a_random_delay() -> None:
    systemd = ROOT / "deploy" / "systemd"
    timers = sorted(systemd.glob("*.timer"))
    started = set()
    for path in timers:
        timer = unit(path)["Timer"]
        assert timer["Persistent"] == "true" and timer["RandomizedDelaySec"], path.name
        match = re.fullmatch(r"slackinstall-job@(\w+)\.service", timer["Unit"])
        assert match, timer["Unit"]
        started.add(match.group(1))
    assert started == set(JOBS)
    service = unit(systemd / "slackinstall-job@.service")["Service"]
    assert service["Type"] == "oneshot"  # a oneshot never overlaps itself
    assert int(service["TimeoutStopSec"]) >= GRACEFUL_STOP_SECONDS
    runner = (systemd / "run-job").read_text()
    for job in JOBS:
        assert job in runner


def test_kubernetes_cronjobs_forbid_overlap_and_run_real_commands() -> None:
    yaml = pytest.importorskip("yaml")
    documents = list(yaml.safe_load_all((ROOT / "deploy/kubernetes/cronjobs.yaml").read_text()))
    commands = set()
    for doc in documents:
        assert doc["kind"] == "CronJob"
        spec = doc["spec"]
        assert spec["concurrencyPolicy"] == "Forbid"
        assert spec["startingDeadlineSeconds"] > 0
        job = spec["jobTemplate"]["spec"]
        assert job["backoffLimit"] >= 1
        (container,) = job["template"]["spec"]["containers"]
        assert job["template"]["spec"]["terminationGracePeriodSeconds"] >= GRACEFUL_STOP_SECONDS
        command = container["command"]
        assert command[:2] == ["python", "manage.py"]
        commands.add(command[2])
        if "--shard" in command:
            Shard.parse(command[command.index("--shard") + 1])
    assert commands == set(JOBS)
