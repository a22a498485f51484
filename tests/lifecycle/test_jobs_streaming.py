"""slack_verify and slack_refresh_tokens over many workspaces: pages and threads.

Workspaces are read by primary key a keyset page at a time (never one list, never an OFFSET);
worker threads check several at once; the claim protocol of rotation.py still spends every
refresh token once, with threads inside each runner and two
runners at once (PostgreSQL).
"""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from installations.lifecycle import verification
from installations.lifecycle.job_threads import in_thread_batches
from installations.lifecycle.rotation import due_workspaces, iter_due_workspaces
from installations.lifecycle.sharding import Shard
from installations.models import Health, LifecycleEvent, Workspace
from tests.support.factories import workspace_row
from tests.support.lifecycle import make_due, refresh_calls, run_at_once


@pytest.mark.django_db
def test_active_workspaces_are_read_a_page_at_a_time_by_key(
    django_assert_num_queries: Any,
) -> None:
    rows = [workspace_row(bot_token=f"xoxb-fake-{n}") for n in range(10)]
    workspace_row(bot_token=None)  # not active: no token
    expected = sorted(w.pk for w in rows)
    with django_assert_num_queries(4):  # pages of 3, 3, 3 and 1
        read = [w.pk for w in verification.active_workspaces(batch_size=3)]
    assert read == expected
    shards = [Shard(i, 3) for i in (1, 2, 3)]
    parts = [[w.pk for w in verification.active_workspaces(s, batch_size=3)] for s in shards]
    assert sorted(pk for part in parts for pk in part) == expected
    assert [verification.count_active(s) for s in shards] == [len(p) for p in parts]


@pytest.mark.django_db
def test_a_page_is_read_only_when_the_run_gets_there(django_assert_num_queries: Any) -> None:
    for n in range(7):
        workspace_row(bot_token=f"xoxb-fake-{n}")
    stream = verification.active_workspaces(batch_size=3)
    with django_assert_num_queries(1):
        [next(stream) for _ in range(3)]
    with django_assert_num_queries(1):
        next(stream)


def test_the_threads_keep_a_bounded_window_and_raise_a_workers_error() -> None:
    taken: list[int] = []

    def items() -> Any:
        for n in range(50):
            taken.append(n)
            yield n

    def work(n: int) -> int:
        return n * 2

    batches = in_thread_batches(items(), work, threads=4, window=8)
    results = (result for batch in batches for result in batch)
    first = next(results)
    assert first % 2 == 0 and len(taken) <= 8 + 1  # not every item was read up front
    assert sorted([first, *results]) == [n * 2 for n in range(50)]

    def fails(n: int) -> int:
        if n == 5:
            raise ValueError("worker failed")
        return n

    with pytest.raises(ValueError, match="worker failed"):
        list(in_thread_batches(range(20), fails, threads=3))


@pytest.mark.django_db(transaction=True)
def test_a_threaded_verify_run_checks_each_workspace_once(standin, install) -> None:
    workspaces = [install(team_id=f"T0CONN{n}")[0] for n in range(12)]
    outcomes = verification.verify_active(actor="command:slack_verify", concurrency=4)
    assert sorted(o.workspace_id for o in outcomes) == sorted(str(w.pk) for w in workspaces)
    assert {o.health for o in outcomes} == {Health.OK}
    events = LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.VERIFIED)
    assert events.count() == 12  # each verdict with its event (unknown -> ok: a change)


@pytest.mark.django_db(transaction=True)
def test_the_threads_wait_on_slack_and_the_calling_thread_writes_each_verdict(
    standin, install
) -> None:
    """Workers only ask Slack: every verdict and its event go through the calling thread's one
    connection, the verdicts that came back together in one transaction."""
    workspaces = [install(team_id=f"T0WRT{n}")[0] for n in range(12)]
    standin.fail_next("auth.test", delay=0.05, times=12)
    with CaptureQueriesContext(connection) as queries:
        outcomes = verification.verify_active(actor="command:slack_verify", concurrency=4)
    assert {o.health for o in outcomes} == {Health.OK}
    written = [q["sql"] for q in queries.captured_queries]
    assert sum(sql.startswith("UPDATE") for sql in written) == len(workspaces)
    assert sum(sql.startswith("INSERT") for sql in written) == len(workspaces)  # the events


def summary_of(*command: str) -> str:
    """``manage.py <command>``'s last line (its summary)."""
    out = io.StringIO()
    call_command(*command, stdout=out)
    return out.getvalue().splitlines()[-1]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_verify_runners_at_once_record_every_workspace_without_a_deadlock(
    standin, install
) -> None:
    """Two slack_verify runs over the same 30 workspaces, each writing its verdicts in
    batches: rows are locked in key order, so neither waits on the other forever."""
    workspaces = [install(team_id=f"T0VTWO{n}")[0] for n in range(30)]
    standin.fail_next("auth.test", delay=0.02, times=60)
    outputs = run_at_once(2, lambda: summary_of("slack_verify", "--concurrency", "6"))
    assert all(" ok=30 " in line for line in outputs), outputs
    assert Counter(Workspace.objects.values_list("health", flat=True)) == {Health.OK: 30}
    verified = LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.VERIFIED)
    assert sorted(set(verified.values_list("workspace_id", flat=True))) == sorted(
        w.pk for w in workspaces
    )


@pytest.mark.django_db(transaction=True)
def test_the_verify_command_streams_every_workspace_once(standin, install) -> None:
    workspaces = [install(team_id=f"T0LINE{n}")[0] for n in range(6)]
    out = io.StringIO()
    call_command("slack_verify", "--concurrency", "3", stdout=out)
    lines = out.getvalue().splitlines()
    listed = Counter(line.split("[")[1].split("]")[0] for line in lines if "  [" in line)
    assert listed == Counter(str(w.pk) for w in workspaces)
    assert lines[-1].startswith("slack_verify: checked=6 ok=6 ")


def rotating(install: Any, count: int, prefix: str) -> list[Workspace]:
    workspaces = [install(rotation=True, team_id=f"{prefix}{n}")[0] for n in range(count)]
    for workspace in workspaces:
        make_due(workspace)
    return workspaces


def assert_spent_once_each(standin: Any, workspaces: list[Workspace]) -> None:
    sent = Counter(refresh_calls(standin))
    assert sent and max(sent.values()) == 1, "a refresh token was sent to Slack twice"
    assert len(sent) == len(workspaces)
    for workspace in workspaces:
        workspace.refresh_from_db()
        assert workspace.bot_refresh_claimed_until is None and workspace.last_error == ""
        assert standin.token_info(workspace.bot_refresh_token)["used"] is False
    assert due_workspaces(120) == []
    assert not LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.REFRESH_FAILED).exists()


@pytest.mark.django_db(transaction=True)
def test_a_threaded_refresh_run_spends_each_refresh_token_once(standin, install) -> None:
    workspaces = rotating(install, 10, "T0THR")
    assert [w.pk for w in iter_due_workspaces(120, batch_size=3)] == sorted(
        w.pk for w in workspaces
    )
    standin.fail_next("oauth.v2.access", delay=0.05, times=10)
    out = io.StringIO()
    call_command("slack_refresh_tokens", "--within", "120", "--concurrency", "4", stdout=out)
    assert (
        out.getvalue()
        .splitlines()[-1]
        .startswith("slack_refresh_tokens: due=10 refreshed=10 skipped=0 failed=0 ")
    )
    assert_spent_once_each(standin, workspaces)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_threaded_runners_at_once_spend_each_refresh_token_once(standin, install) -> None:
    """Two slack_refresh_tokens runs started together over the same 24 due workspaces, four
    threads each, every answer held 50 ms at Slack: each token is claimed, so sent, once."""
    workspaces = rotating(install, 24, "T0TWO")
    standin.fail_next("oauth.v2.access", delay=0.05, times=48)
    outputs = run_at_once(
        2, lambda: summary_of("slack_refresh_tokens", "--within", "120", "--concurrency", "4")
    )
    refreshed = sum(int(line.split(" refreshed=")[1].split()[0]) for line in outputs)
    assert refreshed == 24  # each workspace by exactly one runner
    assert all(" failed=0 " in line for line in outputs), outputs
    assert_spent_once_each(standin, workspaces)
