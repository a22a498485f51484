"""EncryptedTextField against a real database: what is stored, what reads, what fails closed."""

from __future__ import annotations

import json
import secrets
from io import StringIO
from pathlib import Path
from uuid import UUID

import pytest
from django.core.management import call_command
from django.db import connection, models, transaction
from django.test.utils import isolate_apps
from pytest_django import Settings

from installations.encryption.fields import (
    EncryptedDataError,
    EncryptedFieldUsageError,
    EncryptedTextField,
)
from installations.encryption.keyring import generate_key_entry
from installations.models import Installation, Workspace
from tests.support.factories import fake_token, workspace_row

pytestmark = pytest.mark.django_db


def raw(table: str, column: str, pk: UUID) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column} FROM {table} WHERE id = %s",
            [pk.hex if connection.vendor == "sqlite" else pk],
        )
        row = cursor.fetchone()
    value: str | None = row[0]
    return value


def stored_value(table: str, column: str, pk: UUID) -> str:
    """``raw``, for a column that must hold something."""
    value = raw(table, column, pk)
    assert value is not None, f"{table}.{column} is NULL"
    return value


def test_raw_column_is_an_envelope_not_the_token() -> None:
    token = fake_token()
    ws = workspace_row(bot_token=token)
    stored = stored_value("installations_workspace", "bot_token", ws.pk)
    assert stored.startswith("v1.test1.")
    assert token not in stored and "xoxb" not in stored


def test_round_trip_after_reload() -> None:
    token, refresh = fake_token(), fake_token("xoxe-1")
    ws = workspace_row(bot_token=token, bot_refresh_token=refresh)
    again = Workspace.objects.get(pk=ws.pk)
    assert again.bot_token == token
    assert again.bot_refresh_token == refresh


def test_none_is_null_and_empty_string_is_encrypted() -> None:
    ws = workspace_row(bot_token=None, bot_refresh_token="")
    assert raw("installations_workspace", "bot_token", ws.pk) is None
    assert stored_value("installations_workspace", "bot_refresh_token", ws.pk).startswith("v1.")
    again = Workspace.objects.get(pk=ws.pk)
    assert again.bot_token is None
    assert again.bot_refresh_token == ""


def test_same_plaintext_twice_gives_different_ciphertexts() -> None:
    token = fake_token()
    a, b = workspace_row(bot_token=token), workspace_row(bot_token=token)
    assert raw("installations_workspace", "bot_token", a.pk) != raw(
        "installations_workspace", "bot_token", b.pk
    )


def test_saving_an_unchanged_value_writes_the_same_envelope() -> None:
    ws = workspace_row(bot_token=fake_token())
    before = raw("installations_workspace", "bot_token", ws.pk)
    loaded = Workspace.objects.get(pk=ws.pk)
    loaded.team_name = "Renamed"
    loaded.save()
    assert raw("installations_workspace", "bot_token", ws.pk) == before
    assert loaded.bot_token  # decrypting does not change what is saved either
    loaded.save()
    assert raw("installations_workspace", "bot_token", ws.pk) == before


def test_values_under_an_old_key_still_read(settings: Settings) -> None:
    old = generate_key_entry("old")
    settings.TOKEN_ENCRYPTION_KEYS = old
    token = fake_token()
    ws = workspace_row(bot_token=token)
    settings.TOKEN_ENCRYPTION_KEYS = f"{generate_key_entry('new')},{old}"
    loaded = Workspace.objects.get(pk=ws.pk)
    assert loaded.bot_token == token
    loaded.bot_token = fake_token()
    loaded.save()
    assert stored_value("installations_workspace", "bot_token", ws.pk).startswith("v1.new.")


def test_wrong_key_fails_closed_with_the_named_error(settings: Settings) -> None:
    token = fake_token()
    ws = workspace_row(bot_token=token)
    settings.TOKEN_ENCRYPTION_KEYS = generate_key_entry("test1")  # same id, other key
    loaded = Workspace.objects.get(pk=ws.pk)
    with pytest.raises(EncryptedDataError) as caught:
        _ = loaded.bot_token
    message = str(caught.value)
    assert "installations.Workspace.bot_token" in message
    assert str(ws.pk) in message and "test1" in message
    assert token not in message and "v1." not in message


def test_unknown_key_id_fails(settings: Settings) -> None:
    ws = workspace_row(bot_token=fake_token())
    settings.TOKEN_ENCRYPTION_KEYS = generate_key_entry("other")
    with pytest.raises(EncryptedDataError, match="key id test1"):
        _ = Workspace.objects.get(pk=ws.pk).bot_token


def test_ciphertext_copied_to_another_row_fails() -> None:
    victim = workspace_row(bot_token=fake_token())
    attacker = workspace_row(bot_token=fake_token())
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE installations_workspace SET bot_token = "
            "(SELECT bot_token FROM installations_workspace WHERE id = %s) WHERE id = %s",
            [victim.pk.hex, attacker.pk.hex]
            if connection.vendor == "sqlite"
            else [victim.pk, attacker.pk],
        )
    with pytest.raises(EncryptedDataError, match="moved"):
        _ = Workspace.objects.get(pk=attacker.pk).bot_token


def test_ciphertext_copied_to_another_column_fails() -> None:
    ws = workspace_row(bot_token=fake_token(), bot_refresh_token=fake_token("xoxe-1"))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE installations_workspace SET bot_refresh_token = bot_token")
    loaded = Workspace.objects.get(pk=ws.pk)
    assert loaded.bot_token  # the original column still reads
    with pytest.raises(EncryptedDataError):
        _ = loaded.bot_refresh_token


def test_an_unreadable_value_is_never_rewritten_by_an_unrelated_save(
    settings: Settings,
) -> None:
    ws = workspace_row(bot_token=fake_token())
    before = raw("installations_workspace", "bot_token", ws.pk)
    settings.TOKEN_ENCRYPTION_KEYS = generate_key_entry("other")
    loaded = Workspace.objects.get(pk=ws.pk)
    loaded.team_name = "Still saves"
    loaded.save()
    assert raw("installations_workspace", "bot_token", ws.pk) == before


@pytest.mark.parametrize(
    "lookup",
    [{"bot_token": "xoxb-x"}, {"bot_token__startswith": "xoxb"}, {"bot_token__icontains": "x"}],
)
def test_lookups_other_than_isnull_raise(lookup: dict[str, str]) -> None:
    with pytest.raises(EncryptedFieldUsageError, match="only isnull"):
        list(Workspace.objects.filter(**lookup))


def test_isnull_lookups_work() -> None:
    workspace_row(bot_token=fake_token())
    workspace_row(bot_token=None)
    assert Workspace.objects.filter(bot_token__isnull=True).count() == 1
    assert Workspace.objects.filter(bot_token=None).count() == 1
    assert Workspace.objects.exclude(bot_token=None).count() == 1


def test_ordering_by_an_encrypted_field_raises() -> None:
    with pytest.raises(EncryptedFieldUsageError, match="ordered"):
        Workspace.objects.order_by("-bot_token")


def test_update_with_plaintext_raises_and_sealed_values_work() -> None:
    ws = workspace_row(bot_token=fake_token())
    with pytest.raises(EncryptedFieldUsageError), transaction.atomic():
        Workspace.objects.filter(pk=ws.pk).update(bot_token="xoxb-plain")
    field = Workspace._meta.get_field("bot_token")
    replacement = fake_token()
    Workspace.objects.filter(pk=ws.pk).update(bot_token=field.seal(replacement, ws.pk))
    assert Workspace.objects.get(pk=ws.pk).bot_token == replacement


@pytest.mark.parametrize("option", ["unique", "db_index", "primary_key"])
def test_field_options_that_cannot_work_are_refused(option: str) -> None:
    with pytest.raises(EncryptedFieldUsageError):
        EncryptedTextField(**{option: True})


@isolate_apps("installations")
def test_ordering_in_meta_is_a_check_error() -> None:
    class Ordered(models.Model):
        secret = EncryptedTextField()

        class Meta:
            app_label = "installations"
            ordering = ["secret"]

        def __str__(self) -> str:
            return "ordered"

    errors = Ordered._meta.get_field("secret").check()
    assert [e.id for e in errors] == ["installations.E010"]


def test_repr_str_and_dumpdata_show_no_plaintext() -> None:
    token, user_token = fake_token(), fake_token("xoxp")
    hook = f"https://hooks.slack.com/services/TFAKE/BFAKE/{secrets.token_hex(12)}"
    ws = workspace_row(bot_token=token, team_name="Acme")
    Installation.objects.create(
        workspace=ws, client_id=ws.client_id, team_id=ws.team_id, user_id="U1",
        user_token=user_token, incoming_webhook_url=hook,
    )  # fmt: skip
    loaded = Workspace.objects.get(pk=ws.pk)
    _ = loaded.bot_token
    for text in (repr(loaded), str(loaded), repr(loaded.bot_token), repr(loaded.__dict__)):
        assert token not in text
    out = StringIO()
    call_command("dumpdata", "installations", stdout=out)
    dump = out.getvalue()
    for secret in (token, user_token, hook):
        assert secret not in dump
    objects = json.loads(dump)
    ws_dump = next(o for o in objects if o["model"] == "installations.workspace")
    assert ws_dump["fields"]["bot_token"].startswith("v1.test1.")


@pytest.mark.django_db(transaction=True)
def test_sqlite_file_holds_no_token_bytes() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("reads the SQLite database file")
    secrets_saved = [fake_token(), fake_token("xoxp"), fake_token("xoxe-1")]
    ws = workspace_row(bot_token=secrets_saved[0], bot_refresh_token=secrets_saved[2])
    Installation.objects.create(
        workspace=ws, client_id=ws.client_id, team_id=ws.team_id, user_id="U1",
        user_token=secrets_saved[1],
    )  # fmt: skip
    data = Path(connection.settings_dict["NAME"]).read_bytes()
    assert b"v1.test1." in data  # the envelopes are there: we read the right file
    for secret in secrets_saved:
        assert secret.encode() not in data


def test_dumpdata_then_loaddata_restores_readable_tokens(tmp_path: Path) -> None:
    token, user_token = fake_token(), fake_token("xoxp")
    ws = workspace_row(bot_token=token, bot_refresh_token=None)
    Installation.objects.create(
        workspace=ws,
        client_id=ws.client_id,
        team_id=ws.team_id,
        user_id="U1",
        user_token=user_token,
    )
    dump = tmp_path / "backup.json"
    call_command("dumpdata", "installations", output=str(dump))
    assert token not in dump.read_text()
    Installation.objects.all().delete()
    Workspace.objects.all().delete()
    call_command("loaddata", str(dump), verbosity=0)
    restored = Workspace.objects.get(pk=ws.pk)
    assert restored.bot_token == token and restored.bot_refresh_token is None
    assert restored.installations.get().user_token == user_token


def test_presence_checks_never_decrypt(settings: Settings) -> None:
    from installations.encryption.fields import has_stored_value

    ws = workspace_row(bot_token=fake_token(), bot_refresh_token=None)
    settings.TOKEN_ENCRYPTION_KEYS = generate_key_entry("test1")  # same id, other key
    loaded = Workspace.objects.get(pk=ws.pk)
    assert has_stored_value(loaded, "bot_token")
    assert not has_stored_value(loaded, "bot_refresh_token")
    deferred = Workspace.objects.defer("bot_token").get(pk=ws.pk)
    assert has_stored_value(deferred, "bot_token")
    loaded.refresh_from_db()  # reloading the row opens nothing either
    assert has_stored_value(loaded, "bot_token")
    with pytest.raises(EncryptedDataError):
        _ = loaded.bot_token
