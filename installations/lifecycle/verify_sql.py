"""Raw SQL for slack_verify's hot write: a verdict and its lifecycle event, only on the row checked.

Why raw SQL: a scheduled run checks thousands of tokens, and the ORM recorded each verdict with a
locked read of the whole 40-column row, a ``save()`` and an event ``create()``: three statements
compiled anew for every workspace plus BEGIN and COMMIT, about three quarters of the job's CPU
per check (benchmarks/README.md section 5). Here the verdict is one UPDATE built once per process
and statement shape from the model's ``db_table`` and column names (as refresh_sql.py builds
rotation's statements), conditioned on the row still being what the verdict was computed from:

- the bot token's stored envelope (a reinstall, refresh, revoke or re-encryption rewrites it:
  every seal has a fresh nonce, and an erased token is NULL), so the verdict on one token never
  lands on another;
- the health, the count of failures in a row and the bot scopes the verdict was computed from,
  so a verdict written meanwhile (another runner, a staff check) is never counted twice or
  rolled back.

On PostgreSQL the lifecycle event is inserted by the same statement
(``WITH written AS (UPDATE ... RETURNING id) INSERT ... SELECT ... FROM written``): it exists
exactly when the verdict was written, in one round trip without BEGIN and COMMIT. Other
databases (SQLite has no data-modifying WITH) run the UPDATE and then the INSERT in one
transaction. A row another transaction is writing is waited for and the condition checked again
on what it committed (PostgreSQL's READ COMMITTED re-reads the newest row version; SQLite has one
writer). No row matched writes nothing; the caller then falls back to locking the row and
deciding again (verification._record_locked), as before.

What ``save()`` and ``create()`` announced (``health_changed``, the event's ``post_save`` that
moves the admin's cached counts on) the caller announces once the row is written
(verification.py, saving.announce_recorded).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

from installations.models import LifecycleEvent, Workspace


@dataclass(frozen=True)
class Checked:
    """What a verdict was computed from: the row must still hold it for the verdict to land."""

    pk: Any
    envelope: str  # the bot token's envelope as stored when it was read (never decrypted here)
    health: str
    verify_failures: int
    bot_scopes: str


# The columns the condition compares, in the order of Checked's fields after pk.
_CONDITION = ("bot_token", "health", "verify_failures", "bot_scopes")

# Built statements, per (connection alias, vendor, written fields, with an event); a lost race
# builds twice.
_SQL: dict[tuple[Any, ...], str] = {}


def _field(model: type[Model], name: str) -> Any:
    return model._meta.pk if name == "pk" else model._meta.get_field(name)


def _column(db: BaseDatabaseWrapper, model: type[Model], name: str) -> str:
    return str(db.ops.quote_name(_field(model, name).column))


def _table(db: BaseDatabaseWrapper, model: type[Model]) -> str:
    return str(db.ops.quote_name(model._meta.db_table))


def _event_fields() -> list[Any]:
    """The event's columns a raw INSERT must give: every concrete one but the generated key."""
    return [f for f in LifecycleEvent._meta.concrete_fields if not f.primary_key]


def _update_sql(db: BaseDatabaseWrapper, fields: tuple[str, ...]) -> str:
    assignments = ", ".join(f"{_column(db, Workspace, name)} = %s" for name in fields)
    condition = " AND ".join(f"{_column(db, Workspace, name)} = %s" for name in ("pk", *_CONDITION))
    # Identifiers only, from the models' own metadata, quoted; every value is a parameter.
    return f"UPDATE {_table(db, Workspace)} SET {assignments} WHERE {condition}"  # noqa: S608


def _insert_columns(db: BaseDatabaseWrapper) -> str:
    return ", ".join(db.ops.quote_name(f.column) for f in _event_fields())


def _sql(db: BaseDatabaseWrapper, fields: tuple[str, ...], with_event: bool) -> str:
    key = (db.alias, db.vendor, fields, with_event)
    sql = _SQL.get(key)
    if sql is None:
        update = _update_sql(db, fields)
        if with_event and db.vendor == "postgresql":
            pk = _column(db, Workspace, "pk")
            values = ", ".join(
                f"{pk}" if f.attname == "workspace_id" else "%s" for f in _event_fields()
            )
            sql = (
                f"WITH written AS ({update} RETURNING {pk}) "  # noqa: S608 (see _update_sql)
                f"INSERT INTO {_table(db, LifecycleEvent)} ({_insert_columns(db)}) "
                f"SELECT {values} FROM written RETURNING {_column(db, LifecycleEvent, 'pk')}"
            )
        elif with_event:  # the INSERT that follows the UPDATE, in the same transaction
            marks = ", ".join("%s" for _ in _event_fields())
            sql = (
                f"INSERT INTO {_table(db, LifecycleEvent)} ({_insert_columns(db)}) "  # noqa: S608
                f"VALUES ({marks})"
            )
        else:
            sql = update
        _SQL[key] = sql
    return sql


def _update_params(
    db: BaseDatabaseWrapper, checked: Checked, changes: Mapping[str, Any]
) -> list[Any]:
    params = [
        _field(Workspace, name).get_db_prep_save(value, db) for name, value in changes.items()
    ]
    params.append(_field(Workspace, "pk").get_db_prep_value(checked.pk, db))
    params += [checked.envelope, checked.health, checked.verify_failures, checked.bot_scopes]
    return params


def _event_params(
    db: BaseDatabaseWrapper, event: LifecycleEvent, *, skip_workspace: bool
) -> list[Any]:
    return [
        field.get_db_prep_save(field.pre_save(event, True), db)
        for field in _event_fields()
        if not (skip_workspace and field.attname == "workspace_id")
    ]


def write_verdict(
    checked: Checked, changes: Mapping[str, Any], event: LifecycleEvent | None
) -> bool:
    """Write ``changes`` (field name -> value, ``updated_at`` included) on the row ``checked``
    names while it is still as checked, and insert ``event`` (built, unsaved) with it; whether
    the row was written. ``event`` gets its primary key when it was."""
    db = connections[DEFAULT_DB_ALIAS]  # this thread's: looked up once, not per attribute
    fields = tuple(changes)
    update = _update_params(db, checked, changes)
    if event is None:
        with db.cursor() as cursor:
            cursor.execute(_sql(db, fields, False), update)
            return bool(cursor.rowcount == 1)
    if db.vendor == "postgresql":
        with db.cursor() as cursor:
            params = update + _event_params(db, event, skip_workspace=True)
            cursor.execute(_sql(db, fields, True), params)
            rows = cursor.fetchall()
        if not rows:
            return False
        event.pk = rows[0][0]
    else:
        with transaction.atomic(using=db.alias), db.cursor() as cursor:
            cursor.execute(_sql(db, fields, False), update)
            if cursor.rowcount != 1:
                return False
            cursor.execute(_sql(db, fields, True), _event_params(db, event, skip_workspace=False))
            event.pk = db.ops.last_insert_id(
                cursor, LifecycleEvent._meta.db_table, _field(LifecycleEvent, "pk").column
            )
    event._state.adding = False
    event._state.db = db.alias
    return True
