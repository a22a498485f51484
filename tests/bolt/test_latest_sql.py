"""The event-path lookup as one statement (installations/bolt/latest_sql.py) makes the very
instances the same lookup as a queryset makes: every loaded value (UUID keys, aware times, JSON,
sealed tokens bound to their row), the Workspace attached, the same row chosen."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Model, QuerySet
from django.utils import timezone

from installations.bolt import latest_sql
from installations.bolt.latest_sql import latest_installation
from installations.bolt.store import DjangoInstallationStore
from installations.encryption.fields import StoredEnvelope
from installations.models import Installation
from tests.support.factories import fake_webhook_url, store_installation

pytestmark = pytest.mark.django_db

KEY = {"client_id": "1111.2222", "enterprise_id": "", "team_id": "T0TEAM1"}


def as_queryset(user_id: str | None) -> QuerySet[Installation]:
    return latest_sql.as_queryset(**KEY, user_id=user_id)


def loaded(instance: Model) -> dict[str, Any]:
    """What an instance holds, as loaded (sealed tokens compared by envelope and row)."""
    return {
        name: (value.envelope, value.row) if isinstance(value, StoredEnvelope) else value
        for name, value in vars(instance).items()
        if name != "_state"
    }


def assert_same(found: Installation | None, expected: Installation | None) -> None:
    assert (found is None) == (expected is None)
    if found is None or expected is None:
        return
    assert loaded(found) == loaded(expected)
    assert found.get_deferred_fields() == expected.get_deferred_fields()
    assert loaded(found.workspace) == loaded(expected.workspace)
    assert found.workspace.get_deferred_fields() == expected.workspace.get_deferred_fields()
    assert not found._state.adding and found._state.db == expected._state.db


def test_the_statement_makes_the_querysets_instances(our_store: DjangoInstallationStore) -> None:
    later = timezone.now() + timedelta(days=1)
    our_store.save(
        store_installation(
            0,
            user_id="U0ALICE",
            incoming_webhook_url=fake_webhook_url(),
            custom_values={"plan": "pro", "seats": 3, "nested": {"a": [1, None]}},
            user_refresh_token="xoxe-1-" + "a" * 20,
            user_token_expires_at=int(later.timestamp()),
        )
    )
    our_store.save(store_installation(5, user_id="U0BOB", is_enterprise_install=False))
    for user_id in (None, "U0ALICE", "U0BOB", "U0NOBODY"):
        found = latest_installation(**KEY, user_id=user_id)
        assert_same(found, as_queryset(user_id).first())
    alice = latest_installation(**KEY, user_id="U0ALICE")
    assert alice is not None and alice.custom_values["nested"] == {"a": [1, None]}
    assert alice.user_token_expires_at is not None and alice.user_token_expires_at.tzinfo
    assert alice.user_token is not None and alice.user_token.startswith(
        "xoxp-"
    )  # opens with the row it was sealed for


def test_deleted_revoked_and_uninstalled_rows_are_skipped_alike(
    our_store: DjangoInstallationStore,
) -> None:
    our_store.save(store_installation(0, user_id="U0ALICE"))
    our_store.save(store_installation(5, user_id="U0BOB"))
    our_store.delete_installation(enterprise_id=None, team_id="T0TEAM1", user_id="U0BOB")
    for user_id in (None, "U0ALICE", "U0BOB"):
        assert_same(latest_installation(**KEY, user_id=user_id), as_queryset(user_id).first())
    assert latest_installation(**KEY, user_id=None).user_id == "U0ALICE"  # type: ignore[union-attr]
    our_store.delete_all(enterprise_id=None, team_id="T0TEAM1")
    assert latest_installation(**KEY, user_id=None) is None
    assert as_queryset(None).first() is None


def test_the_bot_statement_makes_the_querysets_instance(
    our_store: DjangoInstallationStore,
) -> None:
    assert latest_sql.bot_row(**KEY) is None
    later = timezone.now() + timedelta(days=1)
    our_store.save(
        store_installation(
            0, bot_refresh_token="xoxe-1-" + "b" * 20, bot_token_expires_at=int(later.timestamp())
        )
    )
    our_store.save(store_installation(5))  # the later install wins, in place
    found = latest_sql.bot_row(**KEY)
    expected = latest_sql.bot_as_queryset(**KEY).first()
    assert found is not None and expected is not None
    assert loaded(found) == loaded(expected)
    assert found.get_deferred_fields() == expected.get_deferred_fields()
    assert not found._state.adding and found._state.db == expected._state.db
    assert found.bot_token is not None and found.bot_token.startswith("xoxb-")
    assert found.installed_at.tzinfo is not None
    assert latest_sql.bot_row(KEY["client_id"], "", "T0OTHER") is None
