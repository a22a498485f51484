"""How slack_verify writes a verdict (lifecycle/verification.py): one conditional UPDATE per check,
with its event, no locking read; only on the row as it was checked (a verdict recorded meanwhile
is counted, a reinstall meanwhile keeps its token, a re-encryption meanwhile still gets the
verdict); the hooks ``save()`` and ``create()`` announced; and a verdict decided again on a row
that changed meanwhile stores the same facts as one written at once.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from installations import signals
from installations.encryption.keyring import generate_key_entry
from installations.lifecycle.verification import VerifyOutcome, verify_workspace
from installations.models import Health, LifecycleEvent, Workspace

pytestmark = pytest.mark.django_db


def fresh(workspace: Workspace) -> Workspace:
    """The row as a scheduled run reads it (a page of the keyset query)."""
    return Workspace.objects.get(pk=workspace.pk)


def reseal(workspace: Workspace) -> None:
    """Re-encrypt the stored bot token in place (as slack_reencrypt does): same token, new
    envelope, so a verdict computed from an earlier read no longer matches the row."""
    field = Workspace._meta.get_field("bot_token")
    token = fresh(workspace).bot_token
    assert token is not None
    Workspace.objects.filter(pk=workspace.pk).update(bot_token=field.seal(token, workspace.pk))


def written(queries: CaptureQueriesContext) -> list[str]:
    """The statements a check ran, without the savepoints of a test's transaction."""
    return [
        q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "ROLLBACK"))
    ]


def test_a_check_writes_its_verdict_and_event_without_a_locking_read(standin, install):
    workspace, _ = install()
    checked = fresh(workspace)
    with CaptureQueriesContext(connection) as queries:
        outcome = verify_workspace(checked, actor="command:slack_verify")
    assert outcome.health == Health.OK
    statements = written(queries)
    assert not [s for s in statements if s.startswith("SELECT") or "FOR UPDATE" in s]
    assert [s.split()[0] for s in statements] == ["UPDATE", "INSERT"], statements
    assert LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.VERIFIED).count() == 1
    stored = fresh(workspace)
    assert stored.health == Health.OK and stored.last_verified_at is not None


def test_an_unchanged_scheduled_check_writes_one_update_and_no_event(standin, install):
    workspace, _ = install()
    verify_workspace(fresh(workspace), actor="command:slack_verify", log_unchanged=False)
    first = fresh(workspace)
    verified_at = first.last_verified_at
    with CaptureQueriesContext(connection) as queries:
        verify_workspace(first, actor="command:slack_verify", log_unchanged=False)
    assert [s.split()[0] for s in written(queries)] == ["UPDATE"]
    again = fresh(workspace)
    assert again.last_verified_at is not None and verified_at is not None
    assert again.last_verified_at > verified_at
    assert LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.VERIFIED).count() == 1


def test_a_changed_health_is_announced_once_with_its_event(
    standin, install, django_capture_on_commit_callbacks
):
    """What save() and create() announced: health_changed (before, after) and the event's
    post_save (it moves the admin's cached counts on)."""
    workspace, body = install()
    changes: list[tuple[str, str]] = []
    events: list[str] = []

    def on_health(sender: Any, workspace: Workspace, before: str, after: str, **kw: Any) -> None:
        changes.append((before, after))

    def on_event(sender: Any, instance: LifecycleEvent, created: bool, **kw: Any) -> None:
        assert created and instance.pk is not None
        events.append(instance.kind)

    signals.health_changed.connect(on_health)
    post_save.connect(on_event, sender=LifecycleEvent)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            verify_workspace(fresh(workspace), actor="command:x", log_unchanged=False)
            verify_workspace(fresh(workspace), actor="command:x", log_unchanged=False)  # same
            standin.set_token_error(body["access_token"], "token_revoked")
            verify_workspace(fresh(workspace), actor="command:x", log_unchanged=False)
    finally:
        signals.health_changed.disconnect(on_health)
        post_save.disconnect(on_event, sender=LifecycleEvent)
    assert changes == [(Health.UNKNOWN, Health.OK), (Health.OK, Health.DEAD)]
    assert events == [LifecycleEvent.Kind.VERIFIED, LifecycleEvent.Kind.VERIFY_FAILED]


# --- the row changed while Slack answered -------------------------------------------------------


def while_slack_answers(
    standin: Any, workspace: Workspace, meanwhile: Callable[[], object]
) -> VerifyOutcome:
    """A scheduled check of ``workspace`` whose auth.test is held while ``meanwhile`` runs."""
    checked = fresh(workspace)  # read before the call, as a run's page is
    before = len(standin.calls_to("auth.test"))
    standin.fail_next("auth.test", delay=1.0)  # answered as the token deserves, late
    outcomes: list[VerifyOutcome] = []

    def check() -> None:
        try:
            outcomes.append(
                verify_workspace(checked, actor="command:slack_verify", log_unchanged=False)
            )
        finally:
            connection.close()

    worker = threading.Thread(target=check)
    worker.start()
    deadline = time.monotonic() + 10
    while len(standin.calls_to("auth.test")) == before:
        assert time.monotonic() < deadline, "auth.test never reached the stand-in"
        time.sleep(0.02)
    meanwhile()
    worker.join(15)
    [outcome] = outcomes
    return outcome


@pytest.mark.django_db(transaction=True)
def test_a_verdict_recorded_meanwhile_is_counted_not_overwritten(standin, install):
    """Two checks of one refused token overlap (a run and a staff check): the second refusal
    in a row makes it dead. Writing the late verdict as computed from its own read would count
    one refusal and leave it suspect."""
    workspace, body = install()
    standin.set_token_error(body["access_token"], "invalid_auth")

    def staff_check() -> None:
        assert verify_workspace(fresh(workspace), actor="staff:alice").health == Health.SUSPECT

    outcome = while_slack_answers(standin, workspace, staff_check)
    assert (outcome.health, outcome.error) == (Health.DEAD, "invalid_auth")
    stored = fresh(workspace)
    assert (stored.health, stored.verify_failures) == (Health.DEAD, 2)
    assert LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.VERIFY_FAILED).count() == 2


@pytest.mark.django_db(transaction=True)
def test_scopes_recorded_meanwhile_are_never_changed_without_an_event(standin, install):
    """A staff check records new scopes while a run's check, answered with the old ones, is
    held at Slack. The late verdict is decided on the row as it now stands: the scopes it
    writes back are a change, and the lifecycle log says so."""
    workspace, body = install()
    token = body["access_token"]
    standin.set_scopes(token, "chat:write")
    verify_workspace(fresh(workspace), actor="command:slack_verify", log_unchanged=False)

    def staff_check() -> None:
        standin.set_scopes(token, "chat:write,commands")
        verify_workspace(fresh(workspace), actor="staff:alice")

    outcome = while_slack_answers(standin, workspace, staff_check)
    assert (outcome.health, outcome.scopes) == (Health.OK, ("chat:write",))
    assert fresh(workspace).bot_scopes == "chat:write"
    last = LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.VERIFIED).latest("pk")
    assert last.detail == "health ok; bot scopes: chat:write"


@pytest.mark.django_db(transaction=True)
def test_a_reinstall_meanwhile_keeps_its_token_and_health(standin, install):
    """The old token's verdict (revoked) must not land on the new install's row."""
    workspace, body = install()
    standin.set_token_error(body["access_token"], "token_revoked")
    reinstalled: list[Workspace] = []
    outcome = while_slack_answers(standin, workspace, lambda: reinstalled.append(install()[0]))
    assert outcome.error == "changed_meanwhile"
    stored = fresh(workspace)
    assert stored.bot_token == reinstalled[0].bot_token != body["access_token"]
    assert (stored.health, stored.verify_failures, stored.last_error) == (Health.UNKNOWN, 0, "")
    assert not LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.VERIFY_FAILED).exists()


@pytest.mark.django_db(transaction=True)
def test_a_token_re_encrypted_meanwhile_still_gets_its_verdict(standin, install, settings):
    """slack_reencrypt rewrote the envelope, not the token: the conditional UPDATE matches
    nothing, the row read again holds the same token, and the verdict is recorded on it."""
    workspace, body = install()
    standin.set_scopes(body["access_token"], "chat:write,commands")
    envelope = Workspace._meta.get_field("bot_token").stored_envelope(fresh(workspace))

    def reencrypt() -> None:
        settings.TOKEN_ENCRYPTION_KEYS = (
            f"{generate_key_entry('next')},{settings.TOKEN_ENCRYPTION_KEYS}"
        )
        call_command("slack_reencrypt", stdout=io.StringIO())

    outcome = while_slack_answers(standin, workspace, reencrypt)
    assert (outcome.health, outcome.error) == (Health.OK, "")
    stored = fresh(workspace)
    assert Workspace._meta.get_field("bot_token").stored_envelope(stored) != envelope
    assert stored.bot_token == body["access_token"]
    assert (stored.health, stored.bot_scopes) == (Health.OK, "chat:write,commands")
    assert LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.VERIFIED).count() == 1


# --- a verdict decided again stores what a verdict written at once stores ----------------------


# What a Slack answer is made of at the stand-in: a token error, a fault of the call, or scopes.
ANSWERS: dict[str, dict[str, Any]] = {
    "ok": {"scopes": "chat:write,commands"},
    "ok, other scopes": {"scopes": "chat:write"},
    "token_revoked": {"error": "token_revoked"},
    "account_inactive": {"error": "account_inactive"},
    "invalid_auth": {"error": "invalid_auth"},
    "no_permission": {"error": "no_permission"},
    "http 500": {"fault": {"status": 500}},
    "not json": {"fault": {"raw": b"<xml>not json</xml>"}},
}
FACTS = ("health", "verify_failures", "last_error", "bot_scopes")
TIMES = ("last_verified_at", "last_error_at")


def answer(standin: Any, token: str, name: str) -> None:
    spec = ANSWERS[name]
    with standin.state.lock:
        standin.state.faults.pop("auth.test", None)
    standin.set_token_error(token, spec.get("error"))
    standin.set_scopes(token, spec.get("scopes", "chat:write,commands"))
    if "fault" in spec:
        standin.fail_next("auth.test", times=5, **spec["fault"])


def facts(workspace: Workspace) -> tuple[Any, ...]:
    row = fresh(workspace)
    events = LifecycleEvent.objects.filter(workspace=row).order_by("pk")
    return (
        tuple(getattr(row, name) for name in FACTS),
        tuple(getattr(row, name) is None for name in TIMES),
        list(events.values_list("kind", "detail", "actor")),
    )


@pytest.fixture
def pair(standin, install):
    """Two installed workspaces: one verified at once, one whose row changes before each
    verdict is written (so the verdict is decided again on the row read anew)."""
    return [install(team_id=team) for team in ("T0VERDICTAT", "T0VERDICTRE")]


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.tuples(st.sampled_from(sorted(ANSWERS)), st.booleans()), max_size=4))
def test_a_verdict_decided_again_stores_the_same_facts(standin, pair, steps):
    (fast, fast_body), (moved, moved_body) = pair
    rows = Workspace.objects.filter(pk__in=[fast.pk, moved.pk])
    rows.update(
        health=Health.UNKNOWN, verify_failures=0, last_error="", last_error_at=None,
        last_verified_at=None, bot_scopes="",
    )  # fmt: skip
    LifecycleEvent.objects.filter(workspace__in=rows).delete()
    for name, log_unchanged in steps:
        answer(standin, fast_body["access_token"], name)
        verify_workspace(fresh(fast), actor="command:x", log_unchanged=log_unchanged)
        answer(standin, moved_body["access_token"], name)
        checked = fresh(moved)
        reseal(moved)
        verify_workspace(checked, actor="command:x", log_unchanged=log_unchanged)
        assert facts(fast) == facts(moved), (name, log_unchanged)
    with standin.state.lock:
        standin.state.faults.pop("auth.test", None)
