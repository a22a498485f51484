"""A first install's save: the new target, its history row and its event in one transaction,
one INSERT each; the instances returned are what is stored and announced as ``save()`` announces
them; an existing target goes the way of a reinstall; a failure writes nothing and leaves the
caller's transaction usable; two flows creating one target at once make one row.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.db.models.signals import post_save, pre_save
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from installations.conf import slack_config
from installations.encryption.fields import EncryptedTextField
from installations.lifecycle.saving import save_installation
from installations.models import Installation, LifecycleEvent, Workspace
from tests.support.factories import fake_token, fake_webhook_url, sdk_installation
from tests.support.lifecycle import run_at_once

pytestmark = pytest.mark.django_db(transaction=True)


def columns(instance: Model) -> dict[str, Any]:
    """Every column, encrypted ones decrypted."""
    found = {}
    for field in type(instance)._meta.concrete_fields:
        value = getattr(instance, field.name)
        found[field.name] = str(value) if isinstance(field, EncryptedTextField) and value else value
    return found


def save_first(team_id: str, **data: Any) -> tuple[Workspace, Installation]:
    return save_installation(
        sdk_installation(team_id=team_id, team_name=f"Team {team_id}", **data),
        client_id=slack_config().client_id,
        source="oauth",
        actor="slack",
    )


def test_a_first_install_is_one_insert_per_row_in_one_transaction() -> None:
    with CaptureQueriesContext(connection) as queries:
        save_first("T0FIRST")
    verbs = [q["sql"].split(" ", 1)[0].upper() for q in queries.captured_queries]
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    tables = [Workspace, Installation, LifecycleEvent]
    assert [sql.split()[2].strip('"') for sql in inserts] == [m._meta.db_table for m in tables]
    assert "UPDATE" not in verbs, verbs  # the new row is written whole, once
    assert verbs.count("BEGIN") == 1, verbs
    assert len(verbs) <= 8, verbs  # BEGIN, the locked read, a savepoint, three INSERTs, COMMIT
    (locked,) = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    assert "ORDER BY" not in locked, locked  # the key is unique: nothing to order


def test_the_returned_rows_are_what_is_stored() -> None:
    expires = timezone.now() + timedelta(hours=12)
    workspace, row = save_first(
        "T0STORED",
        installed_at=timezone.now().timestamp(),
        bot_token=fake_token("xoxb"),
        user_token=fake_token("xoxp"),
        bot_refresh_token="xoxe-1-test-fake",
        bot_token_expires_at=expires,
        user_refresh_token="xoxe-1-test-fake-user",
        user_token_expires_at=expires,
        incoming_webhook_url=fake_webhook_url(),
        incoming_webhook_channel="#general",
        incoming_webhook_channel_id="C0GENERAL",
        custom_values={"plan": "trial", "seats": 3, "tags": ["a", "é"]},
    )
    for saved in (workspace, row):
        assert not saved._state.adding
        assert columns(type(saved).objects.get(pk=saved.pk)) == columns(saved)
    assert row.workspace_id == workspace.pk and row.is_current
    [event] = LifecycleEvent.objects.filter(workspace=workspace)
    assert event.kind == LifecycleEvent.Kind.INSTALLED and event.occurred_at == row.installed_at


def test_model_signals_are_sent_as_save_sends_them() -> None:
    """The admin's cached counts (reporting/health.py) and a host's receivers listen for them."""
    heard: list[tuple[str, str, Any]] = []

    def pre(sender: type, instance: Model, **kwargs: Any) -> None:
        heard.append(("pre", sender.__name__, instance._state.adding))

    def post(sender: type, instance: Model, created: bool, **kwargs: Any) -> None:
        heard.append(("post", sender.__name__, created))

    for model in (Workspace, Installation, LifecycleEvent):
        pre_save.connect(pre, sender=model, dispatch_uid=f"test-pre-{model.__name__}")
        post_save.connect(post, sender=model, dispatch_uid=f"test-post-{model.__name__}")
    try:
        save_first("T0SIGNALS")
    finally:
        for model in (Workspace, Installation, LifecycleEvent):
            pre_save.disconnect(sender=model, dispatch_uid=f"test-pre-{model.__name__}")
            post_save.disconnect(sender=model, dispatch_uid=f"test-post-{model.__name__}")
    names = ("Workspace", "Installation", "LifecycleEvent")
    assert sorted(heard) == sorted((kind, name, True) for kind in ("pre", "post") for name in names)


def test_an_existing_target_is_saved_as_a_reinstall() -> None:
    first_ws, _ = save_first("T0AGAIN")
    again_ws, _ = save_installation(
        sdk_installation(team_id="T0AGAIN", team_name="Renamed"),
        client_id=slack_config().client_id,
        source="oauth",
        actor="slack",
    )
    assert again_ws.pk == first_ws.pk
    assert Workspace.objects.get().team_name == "Renamed"
    kinds = list(LifecycleEvent.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == [LifecycleEvent.Kind.INSTALLED, LifecycleEvent.Kind.REINSTALLED]
    assert Installation.objects.filter(is_current=True).count() == 1


def test_a_failed_save_writes_nothing_and_keeps_the_callers_transaction() -> None:
    """A current history row for the same user and target, left under another client's
    workspace, makes the history INSERT break the partial unique constraint."""
    other = Workspace.objects.create(client_id="other-client", team_id="T0CLASH")
    Installation.objects.create(
        workspace=other,
        client_id=slack_config().client_id,
        team_id="T0CLASH",
        user_id="U0STANDINUSR",
        is_current=True,
    )
    with transaction.atomic():
        with pytest.raises(IntegrityError):
            save_first("T0CLASH")
        assert Workspace.objects.count() == 1  # the transaction still runs statements
    assert not Workspace.objects.filter(client_id=slack_config().client_id).exists()
    assert LifecycleEvent.objects.count() == 0


@pytest.mark.postgres
def test_two_first_installs_of_one_target_at_once_make_one_row_and_a_reinstall() -> None:
    """Both flows find no row, both INSERT it: the loser's INSERT waits for the winner's commit,
    then fails on the target's unique constraint inside its savepoint, and the loser saves the
    way of a reinstall on the winner's row, within the same transaction."""
    arrived = threading.Barrier(2, timeout=10)

    def both_inserting(sender: type, instance: Workspace, raw: bool, **kwargs: Any) -> None:
        if instance._state.adding:
            arrived.wait()  # neither inserts before both found no row

    pre_save.connect(both_inserting, sender=Workspace, dispatch_uid="test-both-inserting")
    try:
        results = run_at_once(2, lambda: save_first("T0TWICE", installed_at=time.time()))
    finally:
        pre_save.disconnect(sender=Workspace, dispatch_uid="test-both-inserting")
    assert len({workspace.pk for workspace, _ in results}) == 1
    assert Workspace.objects.count() == 1
    kinds = sorted(LifecycleEvent.objects.values_list("kind", flat=True))
    assert kinds == sorted([LifecycleEvent.Kind.INSTALLED, LifecycleEvent.Kind.REINSTALLED])
    assert Installation.objects.filter(is_current=True).count() == 1
