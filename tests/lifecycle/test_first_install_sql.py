"""A first install's one-statement save (PostgreSQL) writes what the ORM's save writes.

``lifecycle/first_install_sql.py`` inserts the new target, its history row and its event in one
statement; the ORM path (``_save_locked``) stays for reinstalls and other databases. The same
install is saved both ways (two team ids) and every column compared, tokens decrypted; then
what the statement must leave alone: an existing target, and a failure inside a transaction.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.db.models.signals import post_save, pre_save
from django.utils import timezone

from installations.conf import slack_config
from installations.encryption.fields import EncryptedTextField
from installations.lifecycle import first_install_sql, saving
from installations.lifecycle.saving import save_installation
from installations.models import Installation, LifecycleEvent, Workspace
from tests.support.factories import fake_token, fake_webhook_url, sdk_installation

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# Differ between the two saves by construction: keys, the team, and the clock's own columns.
UNCOMPARED = {"id", "workspace", "team_id", "team_name", "updated_at", "first_installed_at"}


def columns(instance: Model) -> dict[str, Any]:
    found = {}
    for field in type(instance)._meta.concrete_fields:
        if field.name in UNCOMPARED:
            continue
        value = getattr(instance, field.name)
        found[field.name] = str(value) if isinstance(field, EncryptedTextField) and value else value
    return found


def save_first(team_id: str, *, orm: bool, monkeypatch: pytest.MonkeyPatch, **data: Any) -> Any:
    if orm:
        monkeypatch.setattr(first_install_sql, "supported", lambda *args: False)
    saved = save_installation(
        sdk_installation(team_id=team_id, team_name=f"Team {team_id}", **data),
        client_id=slack_config().client_id,
        source="oauth",
        actor="slack",
    )
    monkeypatch.undo()
    return saved


def test_the_statement_and_the_orm_write_the_same_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    expires = timezone.now() + timedelta(hours=12)
    data: dict[str, Any] = {
        "installed_at": timezone.now().timestamp(),
        "bot_token": fake_token("xoxb"),
        "user_token": fake_token("xoxp"),
        "bot_refresh_token": "xoxe-1-test-fake",
        "bot_token_expires_at": expires,
        "user_refresh_token": "xoxe-1-test-fake-user",
        "user_token_expires_at": expires,
        "incoming_webhook_url": fake_webhook_url(),
        "incoming_webhook_channel": "#general",
        "incoming_webhook_channel_id": "C0GENERAL",
        "custom_values": {"plan": "trial", "seats": 3, "tags": ["a", "é"]},
    }
    fast_ws, fast_row = save_first("T0FAST", orm=False, monkeypatch=monkeypatch, **data)
    orm_ws, orm_row = save_first("T0ORM", orm=True, monkeypatch=monkeypatch, **data)
    for fast, orm in ((fast_ws, orm_ws), (fast_row, orm_row)):
        stored_fast = type(fast).objects.get(pk=fast.pk)
        stored_orm = type(orm).objects.get(pk=orm.pk)
        assert columns(stored_fast) == columns(stored_orm)
        assert columns(stored_fast) == columns(fast)  # the returned instance is what is stored
        assert not fast._state.adding
    assert fast_row.workspace_id == fast_ws.pk
    fast_events = list(LifecycleEvent.objects.filter(workspace=fast_ws).values())
    orm_events = list(LifecycleEvent.objects.filter(workspace=orm_ws).values())
    assert len(fast_events) == len(orm_events) == 1
    for event in (*fast_events, *orm_events):
        del event["id"], event["workspace_id"]
    assert fast_events == orm_events
    assert fast_events[0]["kind"] == LifecycleEvent.Kind.INSTALLED


def test_model_signals_are_sent_as_save_sends_them(monkeypatch: pytest.MonkeyPatch) -> None:
    heard: list[tuple[str, str, Any]] = []

    def pre(sender: type, instance: Model, **kwargs: Any) -> None:
        heard.append(("pre", sender.__name__, instance._state.adding))

    def post(sender: type, instance: Model, created: bool, **kwargs: Any) -> None:
        heard.append(("post", sender.__name__, created))

    for model in (Workspace, Installation, LifecycleEvent):
        pre_save.connect(pre, sender=model, dispatch_uid=f"test-pre-{model.__name__}")
        post_save.connect(post, sender=model, dispatch_uid=f"test-post-{model.__name__}")
    try:
        save_first("T0SIGNALS", orm=False, monkeypatch=monkeypatch)
    finally:
        for model in (Workspace, Installation, LifecycleEvent):
            pre_save.disconnect(sender=model, dispatch_uid=f"test-pre-{model.__name__}")
            post_save.disconnect(sender=model, dispatch_uid=f"test-post-{model.__name__}")
    assert sorted(heard) == sorted(
        [(kind, name, True) for kind in ("pre", "post") for name in ("Workspace", "Installation")]
        + [("pre", "LifecycleEvent", True), ("post", "LifecycleEvent", True)]
    )


def test_an_existing_target_is_left_to_the_locked_save(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    original = first_install_sql.insert_first_install

    def counting(*args: Any) -> bool:
        calls.append(original(*args))
        return calls[-1]

    monkeypatch.setattr(first_install_sql, "insert_first_install", counting)
    first_ws, _ = save_first("T0AGAIN", orm=False, monkeypatch=pytest.MonkeyPatch())
    again_ws, _ = save_installation(
        sdk_installation(team_id="T0AGAIN", team_name="Renamed"),
        client_id=slack_config().client_id,
        source="oauth",
        actor="slack",
    )
    assert calls == [True, False]  # the second found the target and wrote nothing
    assert again_ws.pk == first_ws.pk
    assert Workspace.objects.get().team_name == "Renamed"
    kinds = list(LifecycleEvent.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == [LifecycleEvent.Kind.INSTALLED, LifecycleEvent.Kind.REINSTALLED]
    assert Installation.objects.filter(is_current=True).count() == 1


def test_a_failed_statement_writes_nothing_and_keeps_the_callers_transaction() -> None:
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
            saving._save_first_install(
                sdk_installation(team_id="T0CLASH"),
                client_id=slack_config().client_id,
                source="oauth",
                actor="slack",
                installed_by=None,
            )
        assert Workspace.objects.count() == 1  # the transaction still runs statements
    assert not Workspace.objects.filter(client_id=slack_config().client_id).exists()
    assert LifecycleEvent.objects.count() == 0
