"""Raw SQL for token rotation's two hot statements: claim-and-read, and check-and-write.

Why raw SQL: a scheduled run refreshes thousands of tokens, and Django compiled the same two
querysets anew for every one (``build_filter`` and ``as_sql`` were the largest single cost of a
refresh, benchmarks/README.md section 5). Django 5.2 also has no public ``UPDATE ... RETURNING``,
so the claim took an UPDATE and then a SELECT of the row. Here each statement is built once per
process and database connection from the model's ``db_table`` and column names (as
installations/bolt/compiled_lookup.py builds its lookups), and rerun with new values:

- ``claim_returning``: the conditional UPDATE that claims a token also returns the row, built
  into an instance the way Django builds one (its converters, ``Model.from_db``), so encrypted
  columns still open lazily;
- ``update_if_unchanged``: the new pair is written by one UPDATE conditioned on the row still
  holding, for the same install, the very envelope that was claimed; the claim is released in
  the same statement only if it is still ours. No matching row changes nothing, and the caller
  falls back to locking and re-checking the row the ORM way.

Both need ``RETURNING`` (PostgreSQL, SQLite >= 3.35); ``returning_supported`` says whether the
connection has it, and rotation.py keeps its plain ORM path for any other database.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django.db import connection as default_connection
from django.db.models import Field, Model

from installations.encryption.fields import EncryptedTextField

M = TypeVar("M", bound=Model)

RETURNING_VENDORS = frozenset({"postgresql", "sqlite"})


def returning_supported() -> bool:
    """Whether the default connection runs ``UPDATE ... RETURNING`` (SQLite gained it in 3.35:
    Django's ``can_return_columns_from_insert`` tracks that same version)."""
    features = default_connection.features
    return default_connection.vendor in RETURNING_VENDORS and bool(
        features.can_return_columns_from_insert
    )


@dataclass(frozen=True)
class RowCondition:
    """What a row must look like for a statement to touch it: columns that must be NULL (True) or
    set (False), columns equal to a value, and an optional "at most" bound."""

    is_null: tuple[tuple[str, bool], ...]  # (field name, must be NULL); hashable: a cache key
    equal: Sequence[str] = ()  # field names compared to values given per call
    at_most: str = ""  # a field name compared (<=) to a value given per call

    def sql(self, model: type[Model], quote: Any) -> str:
        parts = [
            f"{_column(model, name, quote)} IS {'' if null else 'NOT '}NULL"
            for name, null in self.is_null
        ]
        parts += [f"{_column(model, name, quote)} = %s" for name in self.equal]
        if self.at_most:
            parts.append(f"{_column(model, self.at_most, quote)} <= %s")
        return " AND ".join(parts)


def _field(model: type[Model], name: str) -> Any:
    return model._meta.pk if name == "pk" else model._meta.get_field(name)


def _column(model: type[Model], name: str, quote: Any) -> str:
    return str(quote(_field(model, name).column))


def _concrete(model: type[Model]) -> list[Field[Any, Any]]:
    return list(model._meta.concrete_fields)


def _prep(model: type[Model], name: str, value: Any) -> Any:
    """A value as the ORM would send it for a lookup on ``name``; an encrypted column is only
    ever compared with the envelope it stores, passed as it is."""
    field = _field(model, name)
    if isinstance(field, EncryptedTextField):
        return value
    return field.get_db_prep_value(value, default_connection, prepared=False)


# Built statements, per (connection alias, model, statement shape); a lost race builds twice.
_SQL: dict[tuple[Any, ...], str] = {}


def _claim_sql(model: type[Model], condition: RowCondition, claim_field: str) -> str:
    key = ("claim", default_connection.alias, model, condition, claim_field)
    sql = _SQL.get(key)
    if sql is None:
        quote = default_connection.ops.quote_name
        claimed = _column(model, claim_field, quote)
        columns = ", ".join(quote(str(field.column)) for field in _concrete(model))
        sql = _SQL[key] = (
            # Identifiers only, from the model's own metadata, quoted; every value is a parameter.
            f"UPDATE {quote(model._meta.db_table)} SET {claimed} = %s "  # noqa: S608
            f"WHERE {_column(model, 'pk', quote)} = %s AND {condition.sql(model, quote)} "
            f"AND ({claimed} IS NULL OR {claimed} < %s) RETURNING {columns}"
        )
    return sql


# Per thread: a converter may be a method of the thread's own connection (Django keeps one
# connection per thread), so a thread reuses only the converters of its own.
_per_thread = threading.local()


def _converters(model: type[Model]) -> tuple[list[str], list[tuple[int, Any, list[Any]]]]:
    """The model's attribute names, and (position, column, converters) of each column that has
    converters: looked up once per thread and model, not once per claimed row."""
    cache: dict[type[Model], Any] = _per_thread.__dict__.setdefault("converters", {})
    found = cache.get(model)
    if found is None:
        converting = []
        for position, field in enumerate(_concrete(model)):
            column = field.get_col(model._meta.db_table)
            converters = default_connection.ops.get_db_converters(column)
            converters += field.get_db_converters(default_connection)
            if converters:
                converting.append((position, column, converters))
        found = cache[model] = ([field.attname for field in _concrete(model)], converting)
    return found


def _instance(model: type[M], row: Sequence[Any]) -> M:
    """A row of every concrete column, in order, as Django's own query would build it."""
    names, converting = _converters(model)
    values = list(row)
    for position, column, converters in converting:
        for convert in converters:
            values[position] = convert(values[position], column, default_connection)
    return model.from_db(default_connection.alias, names, values)


def claim_returning(
    model: type[M],
    pk: Any,
    condition: RowCondition,
    values: Sequence[Any],
    *,
    claim_field: str,
    now: datetime,
    until: datetime,
) -> M | None:
    """Set ``claim_field`` to ``until`` on row ``pk`` when it meets ``condition`` (``values``
    for its ``equal`` fields, then its ``at_most`` bound) and is unclaimed or its claim ran out
    before ``now``; the row as it now stands, or None when nothing was claimed."""
    names = [*condition.equal, *([condition.at_most] if condition.at_most else [])]
    params = [
        _prep(model, claim_field, until),
        _prep(model, "pk", pk),
        *(_prep(model, name, value) for name, value in zip(names, values, strict=True)),
        _prep(model, claim_field, now),
    ]
    with default_connection.cursor() as cursor:
        cursor.execute(_claim_sql(model, condition, claim_field), params)
        rows = cursor.fetchall()  # all of them: SQLite finishes the statement on the last
    return _instance(model, rows[0]) if rows else None


def _update_sql(
    model: type[Model], fields: tuple[str, ...], condition: RowCondition, claim_field: str
) -> str:
    key = ("update", default_connection.alias, model, fields, condition, claim_field)
    sql = _SQL.get(key)
    if sql is None:
        quote = default_connection.ops.quote_name
        claimed = _column(model, claim_field, quote)
        assignments = ", ".join(f"{_column(model, name, quote)} = %s" for name in fields)
        sql = _SQL[key] = (
            # Identifiers only, from the model's own metadata, quoted; every value is a parameter.
            f"UPDATE {quote(model._meta.db_table)} SET {assignments}, "  # noqa: S608
            f"{claimed} = CASE WHEN {claimed} = %s THEN NULL ELSE {claimed} END "
            f"WHERE {_column(model, 'pk', quote)} = %s AND {condition.sql(model, quote)}"
        )
    return sql


def update_if_unchanged(
    instance: Model,
    fields: Sequence[str],
    condition: RowCondition,
    values: Sequence[Any],
    *,
    claim_field: str,
    until: datetime,
) -> bool:
    """Save ``fields`` of ``instance`` (as ``save(update_fields=...)`` would compute them) when
    its row meets ``condition`` (``values`` for its ``equal`` fields), and clear
    ``claim_field`` if it still holds ``until``; whether the row was written."""
    model = type(instance)
    saved = []
    for name in fields:
        field = _field(model, name)
        saved.append(field.get_db_prep_save(field.pre_save(instance, False), default_connection))
    params = [
        *saved,
        _prep(model, claim_field, until),
        _prep(model, "pk", instance.pk),
        *(_prep(model, name, value) for name, value in zip(condition.equal, values, strict=True)),
    ]
    sql = _update_sql(model, tuple(fields), condition, claim_field)
    with default_connection.cursor() as cursor:
        cursor.execute(sql, params)
        return bool(cursor.rowcount == 1)
