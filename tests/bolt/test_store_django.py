"""Behaviour of our stores beyond slack_sdk's: encryption, history, marks, query counts, async."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from pytest_django import DjangoAssertNumQueries

from installations.bolt.async_store import AsyncDjangoInstallationStore, AsyncDjangoOAuthStateStore
from installations.bolt.store import DjangoInstallationStore
from installations.models import Installation, LifecycleEvent, Workspace
from tests.support.factories import fake_token, store_installation

pytestmark = pytest.mark.django_db

TEAM: dict[str, Any] = {"enterprise_id": None, "team_id": "T0TEAM1"}


def raw_row(table: str, pk: UUID) -> dict[str, Any]:
    with connection.cursor() as cursor:
        key = pk.hex if connection.vendor == "sqlite" else pk
        cursor.execute(f"select * from {table} where id = %s", [key])
        names = [c[0] for c in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def test_client_id_defaults_to_the_configured_one(settings: object) -> None:
    assert DjangoInstallationStore().client_id == "1111.2222"


def test_save_encrypts_every_secret_and_records_history(
    our_store: DjangoInstallationStore,
) -> None:
    installation = store_installation(
        bot_refresh_token=fake_token("xoxe-1"),
        incoming_webhook_url=fake_token("https://hooks.example/x"),
    )
    our_store.save(installation)
    workspace = Workspace.objects.get(team_id="T0TEAM1")
    row = Installation.objects.get(workspace=workspace)
    assert row.source == Installation.Source.STORE
    event = LifecycleEvent.objects.get(workspace=workspace)
    assert (event.kind, event.actor) == (LifecycleEvent.Kind.INSTALLED, "bolt")
    stored = {**raw_row("installations_workspace", workspace.pk)}
    stored.update(raw_row("installations_installation", row.pk))
    secrets = [
        installation.bot_token,
        installation.bot_refresh_token,
        installation.user_token,
        installation.incoming_webhook_url,
    ]
    dump = repr(stored)
    for secret in secrets:
        assert secret is not None and secret not in dump
    assert re.match(r"v1\.test1\.", stored["bot_token"])


def test_lookups_are_one_query_each(
    our_store: DjangoInstallationStore, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    our_store.save(store_installation(0, user_id="U0ALICE"))
    our_store.save(store_installation(5, user_id="U0BOB"))
    with django_assert_num_queries(1):
        bot = our_store.find_bot(**TEAM)
    assert bot is not None and bot.bot_token is not None
    assert bot.bot_token.startswith("xoxb-")
    with django_assert_num_queries(1):
        latest = our_store.find_installation(**TEAM)
    assert latest is not None and latest.user_token is not None
    assert latest.user_id == "U0BOB" and latest.user_token.startswith("xoxp-")
    with django_assert_num_queries(1):
        alice = our_store.find_installation(**TEAM, user_id="U0ALICE")
    assert alice is not None and alice.user_token is not None
    assert alice.user_token.startswith("xoxp-") and alice.bot_token == bot.bot_token
    with django_assert_num_queries(1):
        assert our_store.find_bot(enterprise_id=None, team_id="T0NOPE") is None


def test_deletes_mark_rows_and_keep_history(our_store: DjangoInstallationStore) -> None:
    our_store.save(store_installation(0, user_id="U0ALICE"))
    our_store.save(store_installation(5, user_id="U0BOB"))
    our_store.delete_installation(**TEAM, user_id="U0ALICE")
    alice = Installation.objects.get(user_id="U0ALICE")
    assert alice.deleted_at is not None and alice.user_token is None
    assert alice.user_token_revoked_at is not None
    assert our_store.find_installation(**TEAM)  # Bob's still there

    our_store.delete_bot(**TEAM)
    workspace = Workspace.objects.get(team_id="T0TEAM1")
    assert workspace.bot_token is None and workspace.bot_revoked_at is not None
    assert our_store.find_bot(**TEAM) is None

    our_store.delete_all(**TEAM)
    workspace.refresh_from_db()
    assert workspace.uninstalled_at is not None
    assert Installation.objects.filter(workspace=workspace).count() == 2  # history stays
    assert not Installation.objects.filter(user_token__isnull=False).exists()
    kinds = set(LifecycleEvent.objects.values_list("kind", flat=True))
    assert {"bot_revoked", "user_revoked", "uninstalled"} <= kinds
    assert set(LifecycleEvent.objects.values_list("actor", flat=True)) == {"bolt"}


def test_lifecycle_revocation_outside_the_store_hides_the_user(
    our_store: DjangoInstallationStore,
) -> None:
    from installations.lifecycle import revocation

    our_store.save(store_installation(0, user_id="U0ALICE"))
    revocation.mark_users_revoked(
        client_id="1111.2222",
        enterprise_id="",
        team_id="T0TEAM1",
        user_ids=["U0ALICE"],
        actor="slack",
    )
    assert our_store.find_installation(**TEAM, user_id="U0ALICE") is None
    assert our_store.find_bot(**TEAM) is not None


def test_save_bot_updates_the_workspace_in_place(our_store: DjangoInstallationStore) -> None:
    our_store.save(store_installation(bot_refresh_token=fake_token("xoxe-1")))
    bot = our_store.find_bot(**TEAM)
    assert bot is not None
    bot.bot_token, bot.bot_refresh_token = fake_token("xoxe.xoxb-1"), fake_token("xoxe-1")
    our_store.save_bot(bot)
    assert Workspace.objects.count() == 1
    workspace = Workspace.objects.get()
    assert workspace.bot_token == bot.bot_token
    assert workspace.bot_refresh_token == bot.bot_refresh_token


def test_save_bot_ignores_an_older_bot(our_store: DjangoInstallationStore) -> None:
    current = store_installation(10)
    our_store.save(current)
    older = store_installation(0).to_bot()
    our_store.save_bot(older)
    bot = our_store.find_bot(**TEAM)
    assert bot is not None and bot.bot_token == current.bot_token


def test_custom_values_round_trip(our_store: DjangoInstallationStore) -> None:
    our_store.save(store_installation(custom_values={"plan": "pro"}))
    found = our_store.find_installation(**TEAM)
    assert found is not None and found.get_custom_value("plan") == "pro"


# --- OAuth state store: signed, self-expiring states; see tests/install/test_state_flood.py -----


# --- async twins ---------------------------------------------------------------------------------


def test_async_store_matches_the_sync_one(our_store: DjangoInstallationStore) -> None:
    store = AsyncDjangoInstallationStore(client_id="1111.2222")
    org: dict[str, Any] = {"enterprise_id": "E0ORG", "team_id": None, "is_enterprise_install": True}
    async_to_sync(store.async_save)(store_installation(0, user_id="U0ALICE"))
    async_to_sync(store.async_save)(
        store_installation(1, enterprise_id="E0ORG", team_id=None, is_enterprise_install=True)
    )
    for lookup in (TEAM, org):
        bot = async_to_sync(store.async_find_bot)(**lookup)
        our_bot = our_store.find_bot(**lookup)
        assert bot is not None and our_bot is not None
        assert bot.to_dict() == our_bot.to_dict()
        found = async_to_sync(store.async_find_installation)(**lookup, user_id="U0INSTALL1")
        expected = our_store.find_installation(**lookup, user_id="U0INSTALL1")
        assert (found and found.to_dict()) == (expected and expected.to_dict())
    latest = async_to_sync(store.async_find_installation)(**TEAM)
    assert latest is not None and latest.user_id == "U0ALICE"

    async_to_sync(store.async_delete_installation)(**TEAM, user_id="U0ALICE")
    assert async_to_sync(store.async_find_installation)(**TEAM) is None
    async_to_sync(store.async_delete_bot)(**TEAM)
    assert async_to_sync(store.async_find_bot)(**TEAM) is None
    async_to_sync(store.async_delete_all)(enterprise_id="E0ORG", team_id=None)
    assert async_to_sync(store.async_find_bot)(**org) is None


def test_async_state_store() -> None:
    store = AsyncDjangoOAuthStateStore(expiration_seconds=60)
    state = async_to_sync(store.async_issue)()
    assert async_to_sync(store.async_consume)(state) is True
    assert async_to_sync(store.async_consume)(state) is False
