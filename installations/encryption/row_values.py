"""A different value for each row of one UPDATE, sent as a single JSON parameter.

``{row key: value}`` is looked up per row by the database: one expression per column whatever
the batch size. PostgreSQL and SQLite only; others get ``NotSupportedError`` before any write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.db import NotSupportedError, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, Func, JSONField, TextField, Value
from django.db.models.functions import Cast, Concat

if TYPE_CHECKING:
    from django.db.models.sql.compiler import SQLCompiler


def row_key(model: type[models.Model], pk: object, connection: BaseDatabaseWrapper) -> str:
    """The text the database makes of primary key ``pk`` (``CAST(pk AS text)``): the key under
    which ``RowValue`` finds that row's value (a UUID is hex on SQLite, dashed on PostgreSQL).
    A key with a double quote is refused: SQLite's JSON path quotes the key with them."""
    pk_field = model._meta.pk
    if pk_field is None:  # only abstract models have none, and they have no rows
        raise TypeError(f"{model._meta.label} has no primary key")
    key = str(pk_field.get_db_prep_value(pk, connection))
    if '"' in key:
        raise ValueError(f"{model._meta.label}: a primary key with a double quote has no row key")
    return key


class RowValue(Func):
    """Each row's value from ``values`` (keys made by ``row_key``, values text without NUL, which
    PostgreSQL's jsonb refuses); NULL for a row not in it."""

    output_field = TextField()

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(Value(dict(values), output_field=JSONField()), Cast(F("pk"), TextField()))

    def as_sql(self, *args: Any, **kwargs: Any) -> Any:
        raise NotSupportedError("per-row values in one UPDATE need PostgreSQL or SQLite")

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, Any]:
        # The jsonb constant is parsed once per statement; each row is one key lookup.
        return super().as_sql(compiler, connection, function="jsonb_extract_path_text", **extra)

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, Any]:
        values, key = self.get_source_expressions()
        path = Concat(Value('$."'), key, Value('"'), output_field=TextField())  # a quoted label
        lookup = self.copy()
        lookup.set_source_expressions([values, path])
        return Func.as_sql(lookup, compiler, connection, function="json_extract", **extra)
