"""What one refresh sends to the database: the claim is one conditional UPDATE, exclusive (a
second claim of the same token finds nothing) and never made when the token cannot be read;
the answer is written under the row lock with its event, releasing the claim, in a bounded
number of statements.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from slack_sdk.oauth.token_rotation import TokenRotator

from installations.encryption.fields import EncryptedDataError
from installations.encryption.keyring import generate_key_entry
from installations.lifecycle import rotation
from installations.lifecycle.rotation import TokenRefresh
from installations.lifecycle.staff_actions import refresh_workspace
from installations.models import Installation, LifecycleEvent, Workspace
from tests.support.lifecycle import make_due

pytestmark = pytest.mark.django_db

# A claim only builds the Slack call that spends it; these tests never make it.
ROTATOR = TokenRotator(client_id="1111.2222", client_secret="not-used")


def test_a_claim_is_exclusive_and_reads_the_row_as_stored(standin, install):
    workspace, _ = install(rotation=True, user_token=True)
    make_due(workspace)
    row = Installation.objects.get(workspace=workspace)
    bot_claim = rotation._claim_bot(workspace.pk, ROTATOR, 60, retry_failed=True)
    user_claim = rotation._claim_user(row.pk, ROTATOR, 60)
    assert not isinstance(bot_claim, TokenRefresh) and not isinstance(user_claim, TokenRefresh)
    claim, user = bot_claim.claim, user_claim.claim
    stored = Workspace.objects.get(pk=workspace.pk)
    assert stored.bot_refresh_claimed_until == claim.until
    assert bot_claim.spent == stored.bot_refresh_token
    assert claim.envelope == Workspace._meta.get_field("bot_refresh_token").stored_envelope(stored)
    stored_row = Installation.objects.get(pk=row.pk)
    assert stored_row.user_refresh_claimed_until == user.until
    assert user_claim.spent == stored_row.user_refresh_token
    # Claimed: a second claim of either token finds it taken.
    assert rotation._claim_bot(workspace.pk, ROTATOR, 60, retry_failed=True) is TokenRefresh.SKIPPED
    assert rotation._claim_user(row.pk, ROTATOR, 60) is TokenRefresh.SKIPPED
    # A token not due is not claimed at all.
    Workspace.objects.filter(pk=workspace.pk).update(
        bot_refresh_claimed_until=None, bot_token_expires_at=timezone.now() + timedelta(days=1)
    )
    assert rotation._claim_bot(workspace.pk, ROTATOR, 60, retry_failed=True) is TokenRefresh.NOT_DUE


def test_a_token_this_process_cannot_read_is_never_claimed(standin, install, settings):
    workspace, _ = install(rotation=True)
    make_due(workspace)
    settings.TOKEN_ENCRYPTION_KEYS = generate_key_entry("other")  # lacks the token's key
    with pytest.raises(EncryptedDataError):
        rotation._claim_bot(workspace.pk, ROTATOR, 60, retry_failed=True)
    stored = Workspace.objects.filter(pk=workspace.pk).values("bot_refresh_claimed_until").get()
    assert stored["bot_refresh_claimed_until"] is None  # still due for a run with the key


def test_a_refresh_claims_then_writes_under_the_lock_in_few_statements(standin, install):
    workspace, _ = install(rotation=True)
    make_due(workspace)
    with CaptureQueriesContext(connection) as queries:
        outcome = refresh_workspace(workspace, actor="command:t", within_minutes=120)
    assert outcome.bot_refreshed
    table = Workspace._meta.db_table
    sql = [q["sql"] for q in queries.captured_queries]
    updates = [s for s in sql if s.startswith(f'UPDATE "{table}"')]
    claim, write = updates  # the claim, then the new pair with the claim released
    assert "bot_refresh_claimed_until" in claim and "bot_token_expires_at" in claim
    assert "bot_refresh_token" in write and "bot_refresh_claimed_until" in write
    if connection.vendor == "postgresql":
        assert len([s for s in sql if "FOR UPDATE" in s]) == 1
    assert len([s for s in sql if s.startswith("INSERT")]) == 1  # the REFRESHED event
    assert len([s for s in sql if not s.startswith(("SAVEPOINT", "RELEASE"))]) <= 8, sql
    workspace.refresh_from_db()
    assert workspace.bot_refresh_claimed_until is None
    assert LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.REFRESHED).count() == 1


def _workspace_reads(queries: CaptureQueriesContext) -> list[str]:
    table = Workspace._meta.db_table
    return [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT") and f'FROM "{table}"' in q["sql"]
    ]


def test_a_run_claims_each_bot_on_the_row_its_page_read(standin, install):
    for number in range(3):
        workspace, _ = install(rotation=True, team_id=f"T0PAGE{number}")
        make_due(workspace)
    with CaptureQueriesContext(connection) as queries:
        outcomes = rotation.refresh_due(within_minutes=120, actor="command:t", concurrency=1)
    assert sum(outcome.bot_refreshed for outcome in outcomes) == 3
    # The page, then each bot's locked read before its write: no read of its own per claim.
    reads = _workspace_reads(queries)
    assert len(reads) == 1 + 3, reads
    assert len([s for s in reads if "bot_due" in s]) == 1


def test_a_page_row_that_moved_on_before_its_claim_is_skipped_and_nothing_is_spent(
    standin, install
):
    workspace, _ = install(rotation=True)
    make_due(workspace)
    [page_row] = rotation.due_workspaces(120)
    refresh_workspace(workspace, actor="command:other", within_minutes=120)  # another runner
    stored = Workspace.objects.get(pk=workspace.pk)
    claims = rotation._claim_workspace(page_row, ROTATOR, 120, retry_failed=False, from_page=True)
    assert claims.tokens == [TokenRefresh.SKIPPED]
    after = Workspace.objects.get(pk=workspace.pk)
    assert after.bot_refresh_claimed_until is None
    assert after.bot_refresh_token == stored.bot_refresh_token  # the newer pair stands
    assert standin.token_info(after.bot_refresh_token)["used"] is False
