"""Querysets compiled once per connection and rerun with new values (the store's hot path).

Bolt looks up a bot on every incoming request. Django compiles every queryset anew, which was
about 80% of such a lookup (cProfile, benchmarks/store_lookup.py); this keeps the compiled SQL,
converters and row layout, and builds instances the way Django's ModelIterable does, so
encrypted fields still open lazily and query logging still sees each query when enabled.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable
from typing import Any

from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators

QMARK = re.compile(r"(?<!%)%s")  # as django.db.backends.sqlite3 converts its placeholders


class CompiledLookup:
    """A lookup queryset compiled once per database connection and rerun with new values.

    Django compiles every queryset anew, which was about 80% of a lookup here (cProfile, see
    benchmarks/store_lookup.py), and Bolt runs these on every request. The SQL, the converters
    and the row layout are kept; rows become instances the way Django's ModelIterable builds
    them (``from_db`` + related populators), so encrypted fields still open lazily.
    """

    def __init__(self, build: Callable[..., QuerySet], *names: str) -> None:
        self.build = build
        self.slots = {name: f"\x00slot:{name}" for name in names}  # values no caller sends
        self.compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _compile(self, connection: Any) -> tuple:
        compiler = self.build(**self.slots).query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        names = {slot: name for name, slot in self.slots.items()}
        template = [(names.get(p) if isinstance(p, str) else None, p) for p in params]
        select, info = compiler.select, compiler.klass_info
        start, end = info["select_fields"][0], info["select_fields"][-1] + 1
        attnames = [column[0].target.attname for column in select[start:end]]
        populators = get_related_populators(info, select, connection.alias)
        converters = compiler.get_converters([column[0] for column in select])
        # SQLite: Django rewrites %s to ? with a regex on every execute (a third of a lookup)
        qmark = QMARK.sub("?", sql).replace("%%", "%") if connection.vendor == "sqlite" else None
        layout = (info["model"], start, end, attnames, populators, converters)
        return compiler, sql, qmark, template, layout

    def first(self, model: type[Model], **values: str) -> Any:
        connection = connections[router.db_for_read(model)]
        compiled = self.compiled.get(connection)
        if compiled is None:
            compiled = self.compiled[connection] = self._compile(connection)
        compiler, sql, qmark, template, layout = compiled
        cls, start, end, attnames, populators, converters = layout
        params = [values[name] if name else value for name, value in template]
        if qmark and not connection.queries_logged and not connection.execute_wrappers:
            connection.ensure_connection()
            with connection.wrap_database_errors:
                row = connection.connection.execute(qmark, params).fetchone()
        else:  # the ordinary path keeps query logging and execute wrappers working
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                row = cursor.fetchone()
        if row is None:
            return None
        if converters:
            row = next(iter(compiler.apply_converters([row], converters)))
        instance = cls.from_db(connection.alias, attnames, row[start:end])
        for populator in populators:
            populator.populate(row, instance)
        return instance
