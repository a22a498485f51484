"""slack_reencrypt's batched write: each batch's rows locked and read, re-sealed, and written by
one UPDATE. What must not change with the speed: a value written by someone else while a batch
runs stays theirs; two runs at once move each value once and never deadlock; what cannot be
decrypted is reported and left alone; a batch's statements stay few.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from installations.encryption import reencrypt as reencrypt_module
from installations.encryption.keyring import generate_key_entry
from installations.encryption.models import encrypted_fields
from installations.encryption.reencrypt import census, reencrypt
from installations.encryption.stored_kids import stored_kids
from installations.models import Installation, Workspace
from tests.support.lifecycle import run_at_once

pytestmark = pytest.mark.django_db(transaction=True)


def fake(prefix: str) -> str:
    return f"{prefix}-test-{secrets.token_hex(8)}"


def make_rows(count: int) -> dict[UUID, tuple[str, str, str]]:
    made = {}
    for n in range(count):
        bot, refresh, user = fake("xoxb"), fake("xoxe-1"), fake("xoxp")
        ws = Workspace.objects.create(
            client_id="1111.2222",
            team_id=f"T0PERF{n:03d}",
            bot_token=bot,
            bot_refresh_token=refresh,
        )
        Installation.objects.create(
            workspace=ws, client_id="1111.2222", team_id=ws.team_id, user_id="U1", user_token=user
        )
        made[ws.pk] = (bot, refresh, user)
    return made


def stored(pk: UUID) -> tuple[str, str, str]:
    ws = Workspace.objects.get(pk=pk)
    return (str(ws.bot_token), str(ws.bot_refresh_token), str(ws.installations.get().user_token))


def envelopes(model: Any) -> list[str]:
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(model._meta.db_table)
        columns = ", ".join(f.column or f.attname for f in encrypted_fields(model))
        cursor.execute(f"SELECT {columns} FROM {table}")
        return [value for row in cursor.fetchall() for value in row if value]


@pytest.fixture
def rotated(settings: Any) -> Iterator[str]:
    """Rows sealed under "old"; the keyring then puts "new" first."""
    old = generate_key_entry("old")
    settings.TOKEN_ENCRYPTION_KEYS = old
    yield old  # pytest-django's settings fixture restores the keyring afterwards


def test_every_value_moves_once_and_stays_readable(rotated: str, settings: Any) -> None:
    made = make_rows(7)
    settings.TOKEN_ENCRYPTION_KEYS = f"{generate_key_entry('new')},{rotated}"

    with CaptureQueriesContext(connection) as queries:
        report = reencrypt(batch_size=3)  # batches of 3: several statements per model
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    # One UPDATE per batch, every column in it: workspaces 3 batches, history rows 3 batches.
    assert len(updates) == 6, updates
    assert len([q for q in queries.captured_queries if q["sql"].startswith("BEGIN")]) <= 6

    assert report.reencrypted == {"old": 21}
    assert report.rows_scanned == 14 and not report.unreadable
    assert {value.split(".")[1] for value in envelopes(Workspace) + envelopes(Installation)} == {
        "new"
    }
    assert all(stored(pk) == tokens for pk, tokens in made.items())
    assert sum(reencrypt(batch_size=3).reencrypted.values()) == 0  # idempotent


def test_a_token_written_while_its_batch_runs_waits_and_stays_as_its_writer_stored_it(
    rotated: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refresh writes a row of the batch being re-sealed: it waits for the batch's commit (the
    rows are locked), then stores its token, which no older token ever overwrites."""
    made = make_rows(4)
    settings.TOKEN_ENCRYPTION_KEYS = f"{generate_key_entry('new')},{rotated}"
    victim = Workspace.objects.order_by("pk").values_list("pk", flat=True)[0]
    refreshed = fake("xoxb")
    writer = threading.Thread(target=write_bot_token, args=(victim, refreshed))
    waited: list[bool] = []
    real_reseal = reencrypt_module._reseal

    def reseal_while_a_refresh_writes(fields: Any, batch: Any, *args: Any) -> Any:
        if fields[0].model is Workspace and not writer.is_alive() and not waited:
            writer.start()
            writer.join(timeout=1.0)  # time enough to write, were the row not locked
            waited.append(writer.is_alive())
        return real_reseal(fields, batch, *args)

    monkeypatch.setattr(reencrypt_module, "_reseal", reseal_while_a_refresh_writes)
    report = reencrypt(batch_size=2)
    writer.join(timeout=30)

    assert waited == [True]  # the refresh waited for the batch to commit
    _, refresh, user = made[victim]
    assert stored(victim) == (refreshed, refresh, user)
    assert report.reencrypted == {"old": 12}
    assert all(stored(pk) == tokens for pk, tokens in made.items() if pk != victim)
    assert {value.split(".")[1] for value in envelopes(Workspace)} == {"new"}


def write_bot_token(pk: UUID, token: str) -> None:
    """A refresh's write, from a connection of its own (a thread)."""
    try:
        workspace = Workspace.objects.get(pk=pk)
        workspace.bot_token = token  # sealed under the active key by the writer
        workspace.save(update_fields=["bot_token"])
    finally:
        connection.close()


def test_two_runs_at_once_move_each_value_once(rotated: str, settings: Any) -> None:
    """Both lock in key order: the second waits for each batch the first holds, then finds its
    values moved; neither deadlocks, and every value is re-sealed exactly once."""
    made = make_rows(12)
    settings.TOKEN_ENCRYPTION_KEYS = f"{generate_key_entry('new')},{rotated}"

    reports = run_at_once(2, lambda: reencrypt(batch_size=2))

    assert sum((r.reencrypted for r in reports), Counter()) == {"old": 36}
    assert not any(r.unreadable for r in reports)
    assert all(stored(pk) == tokens for pk, tokens in made.items())
    assert census() == {"new": 36}


def test_unreadable_values_are_reported_and_the_rest_of_their_batch_moves(settings: Any) -> None:
    lost = generate_key_entry("lost")
    settings.TOKEN_ENCRYPTION_KEYS = lost
    gone = Workspace.objects.create(client_id="1111.2222", team_id="T0LOST", bot_token=fake("xoxb"))
    old = generate_key_entry("old")
    settings.TOKEN_ENCRYPTION_KEYS = old
    made = make_rows(2)
    settings.TOKEN_ENCRYPTION_KEYS = f"{generate_key_entry('new')},{old}"

    report = reencrypt(batch_size=10)

    assert [(u.label, u.field, u.row, u.kid) for u in report.unreadable] == [
        ("installations.Workspace", "bot_token", gone.pk, "lost")
    ]
    assert report.reencrypted == {"old": 6}
    assert all(stored(pk) == tokens for pk, tokens in made.items())
    assert census() == {"new": 6, "lost": 1}


def test_the_census_counts_in_sql_and_survives_text_that_is_no_envelope(settings: Any) -> None:
    """Counted by the database from the clear key-id prefix; a value that is no envelope at all
    (written around the field) is "unknown", never an error (PostgreSQL refuses a negative
    substring length, which the naive expression would ask for)."""
    settings.TOKEN_ENCRYPTION_KEYS = generate_key_entry("k1")
    make_rows(2)
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(Workspace._meta.db_table)
        cursor.execute(
            f"UPDATE {table} SET bot_refresh_token = %s WHERE team_id = %s",
            ["not-an-envelope", "T0PERF000"],
        )
    assert census() == {"k1": 5, "unknown": 1}
    assert stored_kids() == {"k1"}
