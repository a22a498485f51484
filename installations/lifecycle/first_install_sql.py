"""A first install on PostgreSQL in one statement: the target's row, its history row, its event.

Why: a completed flow for a target that has no row yet (most installs) took the ORM eight round
trips (BEGIN, a locked read that finds nothing, a savepoint around the INSERT and its release,
the history INSERT, the event INSERT, COMMIT), and Django compiled the three INSERTs of some
sixty columns anew for every install: together about 40% of the callback's CPU
(benchmarks/README.md section 4). Here the three rows go in one statement, built once per
process and connection from the models' own metadata, that PostgreSQL runs atomically:

    WITH target AS (INSERT INTO workspace ... ON CONFLICT (client, enterprise, team) DO NOTHING
                    RETURNING id),
         history AS (INSERT INTO installation SELECT ... FROM target),
         event AS (INSERT INTO lifecycle event SELECT ... FROM target RETURNING id)
    SELECT (SELECT id FROM event) FROM target

When the target exists already (a reinstall, or another flow created it a moment earlier) the
workspace INSERT does nothing, so neither does anything selected from it: no row is returned and
the caller saves the ORM way, locking the existing row (lifecycle/saving.py). An error (a
constraint, the connection) rolls back all three rows, as the ORM's transaction did.

Every value is what ``Model.save()`` would send: each field's ``pre_save`` (defaults, auto_now,
tokens sealed to the new row's key) and ``get_db_prep_save``; ``pre_save`` and ``post_save`` are
sent for each instance as ``save()`` sends them. SQLite has no INSERT inside WITH; any database
but PostgreSQL keeps the ORM path.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from uuid import UUID

from django.db import connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, JSONField, Model
from django.db.models.signals import pre_save

from installations.lifecycle.inserted import announce_inserted
from installations.models import Installation, LifecycleEvent, Workspace

TARGET_FIELDS = ("client_id", "enterprise_id", "team_id")  # the uniq_workspace_target constraint

# Built statements, per connection alias; a race between two threads builds one twice.
_SQL: dict[str, str] = {}


def _fields(model: type[Model]) -> list[Field[Any, Any]]:
    """The columns an INSERT of ``model`` writes: every concrete one but an auto-increment key."""
    auto = model._meta.auto_field
    return [field for field in model._meta.concrete_fields if field is not auto]


def _pk_column(model: type[Model]) -> str | None:
    pk = model._meta.pk
    return None if pk is None else pk.column


def _statement(connection: BaseDatabaseWrapper) -> str:
    sql = _SQL.get(connection.alias)
    if sql is None:
        sql = _SQL[connection.alias] = _build(connection)
    return sql


def _build(connection: BaseDatabaseWrapper) -> str:
    """Each row travels as one JSON object of column -> value, which ``jsonb_populate_record``
    turns into a row of the table's own type (each value through the column type's input
    function): three parameters instead of some seventy, so psycopg keeps the parsed statement
    (it caches statements of at most 50 parameters) and the server parses three values.
    ``SELECT *`` of that record lists the table's columns in the table's own order, the order
    an INSERT without a column list expects, whatever the models' field order; the event's
    INSERT names its columns, leaving its id to the sequence."""

    def quote(name: str | None) -> str:
        return str(connection.ops.quote_name(str(name)))

    workspace_columns = {field.name: field.column for field in Workspace._meta.concrete_fields}
    ws_table, history_table = quote(Workspace._meta.db_table), quote(Installation._meta.db_table)
    event_table = quote(LifecycleEvent._meta.db_table)
    target = ", ".join(quote(workspace_columns[name]) for name in TARGET_FIELDS)
    event_columns = ", ".join(quote(field.column) for field in _fields(LifecycleEvent))
    event_pk = quote(_pk_column(LifecycleEvent))
    # Identifiers only, from the models' own metadata, quoted; every value is a parameter.
    return (
        f"WITH target AS (INSERT INTO {ws_table} "  # noqa: S608
        f"SELECT * FROM jsonb_populate_record(NULL::{ws_table}, %s::jsonb) "
        f"ON CONFLICT ({target}) DO NOTHING RETURNING {quote(_pk_column(Workspace))}), "
        f"history AS (INSERT INTO {history_table} SELECT flow.* FROM target, "
        f"jsonb_populate_record(NULL::{history_table}, %s::jsonb) AS flow), "
        f"event AS (INSERT INTO {event_table} ({event_columns}) SELECT {event_columns} "
        f"FROM target, jsonb_populate_record(NULL::{event_table}, %s::jsonb) "
        f"RETURNING {event_pk}) "
        f"SELECT (SELECT {event_pk} FROM event) FROM target"
    )


def supported(model: type[Model] = Workspace) -> bool:
    """Whether the database that stores ``model`` runs the statement (PostgreSQL)."""
    return connections[router.db_for_write(model)].vendor == "postgresql"


def _as_json(field: Field[Any, Any]) -> Callable[[Any], Any]:
    """How a value ``get_db_prep_save`` made for psycopg becomes JSON that the column's input
    function reads back to the same value: timestamps in ISO 8601 with their offset, UUIDs as
    text, a JSON column's document as itself (psycopg's Jsonb wrapper unwrapped); anything else
    (text, numbers, booleans, NULL) as it is. Chosen once per field, not per value."""
    if isinstance(field, JSONField):
        encoder = field.encoder

        def document(value: Any) -> Any:
            if value is None:
                return None
            return json.loads(json.dumps(getattr(value, "obj", value), cls=encoder))

        return document

    def plain(value: Any) -> Any:
        if isinstance(value, (datetime, date)):
            return value.isoformat()
        if isinstance(value, UUID):
            return str(value)
        return value

    return plain


# Per model: (column, field, to JSON) for every column its INSERT writes.
_LAYOUT: dict[type[Model], list[tuple[str, Field[Any, Any], Callable[[Any], Any]]]] = {}


def _layout(model: type[Model]) -> list[tuple[str, Field[Any, Any], Callable[[Any], Any]]]:
    found = _LAYOUT.get(model)
    if found is None:
        found = _LAYOUT[model] = [(str(f.column), f, _as_json(f)) for f in _fields(model)]
    return found


def _row_json(instance: Model, connection: BaseDatabaseWrapper) -> str:
    """``instance`` as ``save()`` would write it (each field's ``pre_save``: defaults, auto_now,
    tokens sealed to the row's key; then ``get_db_prep_save``), as one JSON object by column."""
    return json.dumps(
        {
            column: to_json(field.get_db_prep_save(field.pre_save(instance, True), connection))
            for column, field, to_json in _layout(type(instance))
        }
    )


def insert_first_install(workspace: Workspace, row: Installation, event: LifecycleEvent) -> bool:
    """Insert the three new rows in one statement; False, with nothing written, when the target
    (client id, enterprise, team) has a row already. Inside a transaction the statement gets a
    savepoint, so an error leaves the caller's transaction as the ORM's nested atomic would."""
    connection = connections[router.db_for_write(Workspace)]
    instances = (workspace, row, event)
    for instance in instances:
        pre_save.send(
            type(instance), instance=instance, raw=False, using=connection.alias, update_fields=None
        )
    params = [_row_json(instance, connection) for instance in instances]
    if connection.in_atomic_block:
        with transaction.atomic(using=connection.alias):
            found = _run(connection, params)
    else:
        found = _run(connection, params)  # autocommit: the one statement is its own transaction
    if found is None:
        return False
    event.pk = found
    for instance in instances:
        announce_inserted(instance, connection.alias)
    return True


def _run(connection: BaseDatabaseWrapper, params: list[str]) -> Any:
    """The new event's id, or None when the target existed (nothing was inserted)."""
    with connection.cursor() as cursor:
        cursor.execute(_statement(connection), params)
        found = cursor.fetchone()
    return None if found is None else found[0]
