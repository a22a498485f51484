"""Key rotation with slack_reencrypt on a real database, including a run that dies halfway."""

from __future__ import annotations

import secrets
from io import StringIO
from uuid import UUID

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection
from pytest_django import Settings

from installations.encryption.keyring import generate_key_entry
from installations.models import Installation, Workspace
from tests.support.db_faults import refuse_writes

pytestmark = pytest.mark.django_db(transaction=True)


def make_rows(count: int) -> dict[UUID, tuple[str, str, str]]:
    """Workspaces with a bot token and refresh token, each with an installation row."""
    made = {}
    for n in range(count):
        bot, refresh, user = (f"xoxb-test-{secrets.token_hex(8)}", f"xoxe-1-test-{n}", "")
        ws = Workspace.objects.create(
            client_id="1111.2222", team_id=f"T{n:06d}", bot_token=bot, bot_refresh_token=refresh
        )
        user = f"xoxp-test-{secrets.token_hex(8)}"
        Installation.objects.create(
            workspace=ws, client_id="1111.2222", team_id=ws.team_id, user_id="U1", user_token=user
        )
        made[ws.pk] = (bot, refresh, user)
    return made


def run(*args: str) -> str:
    out = StringIO()
    call_command("slack_reencrypt", *args, stdout=out)
    return out.getvalue()


def assert_all_readable(made: dict[UUID, tuple[str, str, str]]) -> None:
    for pk, (bot, refresh, user) in made.items():
        ws = Workspace.objects.get(pk=pk)
        assert (ws.bot_token, ws.bot_refresh_token) == (bot, refresh)
        assert ws.installations.get().user_token == user


def kids_in_db() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT bot_token, bot_refresh_token FROM installations_workspace")
        values = [v for row in cursor.fetchall() for v in row]
        cursor.execute("SELECT user_token FROM installations_installation")
        values += [row[0] for row in cursor.fetchall()]
    return {value.split(".")[1] for value in values if value}


def test_reencrypt_converges_and_check_turns_green(settings: Settings) -> None:
    old = generate_key_entry("old")
    settings.TOKEN_ENCRYPTION_KEYS = old
    made = make_rows(7)
    assert "old (active): 21" in run("--check")

    settings.TOKEN_ENCRYPTION_KEYS = f"{generate_key_entry('new')},{old}"
    with pytest.raises(CommandError, match=r"21 value\(s\) still use key id\(s\) old"):
        run("--check")

    output = run("--batch-size", "3")
    assert "re-encrypted 21 value(s) under new (21 from old)" in output
    assert "new (active): 21" in output
    assert kids_in_db() == {"new"}
    assert_all_readable(made)
    assert "new (active): 21" in run("--check")

    # Idempotent: a second run changes nothing.
    before = kids_in_db()
    assert "re-encrypted 0 value(s)" in run()
    assert kids_in_db() == before

    # The old key can now go.
    settings.TOKEN_ENCRYPTION_KEYS = settings.TOKEN_ENCRYPTION_KEYS.split(",")[0]
    assert_all_readable(made)


def test_interrupted_run_leaves_everything_readable_and_a_rerun_finishes(
    settings: Settings,
) -> None:
    old = generate_key_entry("old")
    settings.TOKEN_ENCRYPTION_KEYS = old
    made = make_rows(10)
    settings.TOKEN_ENCRYPTION_KEYS = f"{generate_key_entry('new')},{old}"

    doomed = Workspace.objects.order_by("pk")[6]  # a row in the third batch of three
    lift = refuse_writes(
        "installations_workspace", event="UPDATE", when=f"NEW.team_id = '{doomed.team_id}'"
    )
    try:
        with pytest.raises(DatabaseError, match="injected"):
            run("--batch-size", "3")
    finally:
        lift()

    assert kids_in_db() == {"new", "old"}  # earlier batches committed, the rest untouched
    assert_all_readable(made)
    run()
    assert kids_in_db() == {"new"}
    assert_all_readable(made)


def test_unreadable_values_are_reported_and_left_alone(settings: Settings) -> None:
    lost = generate_key_entry("lost")
    settings.TOKEN_ENCRYPTION_KEYS = lost
    Workspace.objects.create(client_id="1111.2222", team_id="TLOST", bot_token="xoxb-test-lost")
    settings.TOKEN_ENCRYPTION_KEYS = f"{generate_key_entry('new')},{generate_key_entry('lost')}"
    with pytest.raises(CommandError, match=r"1 value\(s\) could not be decrypted"):
        run()
    assert kids_in_db() == {"lost"}


def test_keygen_prints_a_usable_entry() -> None:
    out = StringIO()
    call_command("slack_keygen", "--kid", "2026-11", stdout=out)
    entry = out.getvalue().strip()
    assert entry.startswith("2026-11:")
    from installations.encryption.keyring import Keyring

    assert Keyring.parse(entry).active_kid == "2026-11"
    with pytest.raises(CommandError):
        call_command("slack_keygen", "--kid", "bad.kid", stdout=StringIO())


@pytest.mark.parametrize("size", ["0", "-5", "10001", "ten", "2.5"])
def test_a_batch_size_out_of_range_is_one_clear_error(size: str) -> None:
    with pytest.raises(CommandError, match="--batch-size"):
        run("--batch-size", size)


def test_a_database_without_the_json_lookup_is_one_clear_error_and_nothing_moves(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = generate_key_entry("old")
    settings.TOKEN_ENCRYPTION_KEYS = old
    made = make_rows(2)
    settings.TOKEN_ENCRYPTION_KEYS = f"{generate_key_entry('new')},{old}"
    with monkeypatch.context() as patch:
        patch.setattr(connection, "vendor", "mysql")  # compiled as another database would be
        with pytest.raises(CommandError, match=r"nothing was re-encrypted: .*PostgreSQL or SQLite"):
            run()
    assert kids_in_db() == {"old"}
    assert_all_readable(made)
