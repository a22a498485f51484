"""The raw-SQL hot path of token rotation (installations/lifecycle/refresh_sql.py): the claim's
UPDATE ... RETURNING builds the row as the ORM reads it, a refresh writes in one UPDATE with no
row lock read, and the plain ORM path (other databases) keeps the same protocol.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from installations.lifecycle import refresh_sql
from installations.lifecycle.rotation import BOT_CLAIMABLE, USER_CLAIMABLE
from installations.lifecycle.staff_actions import refresh_workspace
from installations.models import Installation, LifecycleEvent, Workspace
from tests.lifecycle import test_rotation as rotation_tests
from tests.support.lifecycle import make_due

pytestmark = pytest.mark.django_db

needs_returning = pytest.mark.skipif(
    "not refresh_sql.returning_supported()", reason="UPDATE ... RETURNING unsupported"
)


@needs_returning
def test_the_claimed_row_reads_as_the_orm_reads_it(standin, install):
    workspace, _ = install(rotation=True, user_token=True)
    make_due(workspace)
    now = timezone.now()
    horizon, until = now + timedelta(hours=1), now + timedelta(minutes=2)
    row = Installation.objects.get(workspace=workspace)
    claimed_bot = refresh_sql.claim_returning(
        Workspace, workspace.pk, BOT_CLAIMABLE, [horizon],
        claim_field="bot_refresh_claimed_until", now=now, until=until,
    )  # fmt: skip
    claimed_user = refresh_sql.claim_returning(
        Installation, row.pk, USER_CLAIMABLE, [True, horizon],
        claim_field="user_refresh_claimed_until", now=now, until=until,
    )  # fmt: skip
    for claimed, read in [
        (claimed_bot, Workspace.objects.get(pk=workspace.pk)),
        (claimed_user, Installation.objects.get(pk=row.pk)),
    ]:
        assert claimed is not None and claimed._state.db == read._state.db
        for field in type(read)._meta.concrete_fields:
            assert field.value_from_object(claimed) == field.value_from_object(read), field.name
    assert claimed_bot is not None and claimed_bot.bot_refresh_claimed_until == until
    assert claimed_bot.bot_token == Workspace.objects.get(pk=workspace.pk).bot_token
    # Claimed: a second claim finds nothing.
    again = refresh_sql.claim_returning(
        Workspace,
        workspace.pk,
        BOT_CLAIMABLE,
        [horizon],
        claim_field="bot_refresh_claimed_until",
        now=now,
        until=until,
    )
    assert again is None


@needs_returning
def test_a_refresh_claims_with_returning_and_writes_without_a_locking_read(standin, install):
    workspace, _ = install(rotation=True)
    make_due(workspace)
    with CaptureQueriesContext(connection) as queries:
        outcome = refresh_workspace(workspace, actor="command:t", within_minutes=120)
    assert outcome.bot_refreshed
    table = Workspace._meta.db_table
    updates = [q["sql"] for q in queries if q["sql"].startswith(f'UPDATE "{table}"')]
    assert len(updates) == 2 and "RETURNING" in updates[0]
    assert not [q for q in queries if "FOR UPDATE" in q["sql"]]
    workspace.refresh_from_db()
    assert workspace.bot_refresh_claimed_until is None
    assert LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.REFRESHED).count() == 1


@pytest.fixture
def plain_path(monkeypatch):
    """A database without RETURNING: every step on the ORM."""
    monkeypatch.setattr(refresh_sql, "returning_supported", lambda: False)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "scenario",
    [
        rotation_tests.test_refresh_now_rotates_bot_and_user_tokens_separately,
        rotation_tests.test_tokens_not_due_are_left_alone,
        rotation_tests.test_refused_user_refresh_token_stops_that_user_only,
        rotation_tests.test_a_reinstall_while_slack_answers_keeps_the_new_install,
        rotation_tests.test_a_refusal_of_a_token_replaced_meanwhile_marks_nothing,
        rotation_tests.test_two_refreshers_of_one_workspace_spend_its_refresh_token_once,
    ],
    ids=lambda scenario: scenario.__name__.removeprefix("test_"),
)
def test_the_plain_orm_path_keeps_the_protocol(plain_path, standin, install, scenario):
    scenario(standin, install)


@pytest.mark.django_db(transaction=True)
def test_the_plain_orm_path_keeps_a_pair_re_encrypted_meanwhile(
    plain_path, standin, install, settings
):
    rotation_tests.test_re_encryption_while_slack_answers_keeps_the_refreshed_pair(
        standin, install, settings
    )
