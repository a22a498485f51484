"""Querysets compiled once per connection and rerun with new values (the store's hot path).

Bolt looks up a bot on every incoming request. Django compiles every queryset anew, which was
about 80% of such a lookup (cProfile, benchmarks/store_lookup.py); this keeps the compiled SQL,
converters and row layout, and builds instances the way Django's ModelIterable does, so
encrypted fields still open lazily and query logging still sees each query when enabled.

That speed rests on Django internals that are not public API (``Query.get_compiler``, the
compiler's ``select`` / ``klass_info`` (its setters for related rows) / converters, and on SQLite
the DB-API connection's own ``execute``). Django may change them in any release, so every
lookup also has a plain path, the very queryset run the ordinary way, and three nets keep the
answers right whatever Django does:

- ``SLACK_COMPILED_LOOKUPS = False`` runs every lookup on the plain path (the store test suite
  runs both ways: tests/bolt/conftest.py, ``lookup_path``);
- an error from those internals while compiling or reading a row switches that lookup to the
  plain path for the rest of the process, with one WARNING saying why;
- a self-test: the first row the compiled path finds in a process is looked up again on the
  plain path and compared field by field (related row included); any difference switches to
  the plain path, with a WARNING, and the plain answer is returned.

The async stores run the same code (``afirst``), in the thread Django's async ORM would use.
"""

from __future__ import annotations

import logging
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Generic, TypeVar

from asgiref.sync import sync_to_async
from django.db import connections, router
from django.db.models import Model, QuerySet

from installations.conf import setting
from installations.encryption.fields import StoredEnvelope

_DEFERRED: Any  # private: the marker Model.__init__ skips for a column not loaded
try:  # its disappearance is one of the changes the plain path covers
    from django.db.models.base import DEFERRED as _DEFERRED
except ImportError:  # pragma: no cover (depends on the Django release)
    _DEFERRED = None

logger = logging.getLogger(__name__)

QMARK = re.compile(r"(?<!%)%s")  # as django.db.backends.sqlite3 converts its placeholders
# What a change in the private API can raise while compiling or building a row. Database errors
# are not among them: those come from the query itself, and the plain path would meet them too.
INTERNALS_CHANGED = (AttributeError, KeyError, IndexError, TypeError, ValueError)

M = TypeVar("M", bound=Model)


def compiled_lookups_enabled() -> bool:
    """SLACK_COMPILED_LOOKUPS (default True)."""
    return bool(setting("SLACK_COMPILED_LOOKUPS"))


@dataclass(frozen=True)
class _Layout:
    """Where one model's columns sit in the compiled row, and how it hangs off its parent.

    ``pick`` takes the row (with DEFERRED appended) and returns one value per concrete field
    of the model, DEFERRED where the query loads none: the full-width form ``Model.from_db``
    takes without matching every field name against the loaded names (that matching was a
    tenth of a lookup).
    """

    model: type[Model]
    attnames: list[str]
    pick: Callable[[list[Any]], tuple[Any, ...]]
    pk_index: int  # the model's primary key in the row
    local_setter: Callable[[Any, Any], None] | None  # parent -> this (None for the main model)
    remote_setter: Callable[[Any, Any], None] | None
    related: list[_Layout]

    @classmethod
    def of(
        cls, info: dict[str, Any], select: list[Any], width: int, *, related: bool = False
    ) -> _Layout:
        """From the compiler's ``klass_info`` (a related row's also names its setters)."""
        if info.get("from_parent"):
            raise ValueError("multi-table inheritance rows are not laid out here")
        model = info["model"]
        positions = {select[i][0].target.attname: i for i in info["select_fields"]}
        concrete = [field.attname for field in model._meta.concrete_fields]
        picked = [positions.get(attname, width) for attname in concrete]  # width: DEFERRED
        children = info.get("related_klass_infos", [])
        return cls(
            model=model,
            attnames=[attname for attname in concrete if attname in positions],
            pick=itemgetter(*picked) if len(picked) > 1 else lambda row: (row[picked[0]],),
            pk_index=positions[model._meta.pk.attname],
            local_setter=info["local_setter"] if related else None,
            remote_setter=info["remote_setter"] if related else None,
            related=[cls.of(child, select, width, related=True) for child in children],
        )

    def build(self, row: list[Any], alias: str) -> Model | None:
        """The instance for this part of ``row`` (None for a missing related row), with its
        related instances attached as select_related attaches them."""
        if row[self.pk_index] is None:
            return None
        instance = self.model.from_db(alias, self.attnames, self.pick(row))
        for related in self.related:
            child = related.build(row, alias)
            if related.local_setter is not None:
                related.local_setter(instance, child)
            if child is not None and related.remote_setter is not None:
                related.remote_setter(child, instance)
        return instance


@dataclass(frozen=True)
class _Compiled:
    """One lookup compiled for one connection: the SQL and how to turn its row into instances."""

    sql: str
    qmark_sql: str | None  # SQLite only: the SQL with ? placeholders, run on the DB-API cursor
    template: list[tuple[str | None, Any]]  # per parameter: the value's name, or a fixed value
    converters: list[tuple[int, list[Any], Any]]  # (position, converters, expression)
    layout: _Layout

    def instance(self, row: tuple[Any, ...], connection: Any) -> Model | None:
        """Convert the row's values as the compiler would, then build the instances."""
        values = list(row)
        for position, functions, expression in self.converters:
            value = values[position]
            for convert in functions:
                value = convert(value, expression, connection)
            values[position] = value
        values.append(_DEFERRED)  # what every column the query does not load picks
        return self.layout.build(values, connection.alias)


class CompiledLookup(Generic[M]):
    """A lookup queryset compiled once per database connection and rerun with new values.

    ``build(**values)`` returns the queryset for those values; ``names`` are the values' names.
    Rows become instances the way Django's ModelIterable builds them (``from_db``, related rows
    attached with the compiler's setters), so encrypted fields still open lazily.
    """

    def __init__(
        self, name: str, model: type[M], build: Callable[..., QuerySet[M]], *names: str
    ) -> None:
        self.name = name
        self.model = model
        self.build = build
        self.slots = {value: f"\x00slot:{value}" for value in names}  # values no caller sends
        self.compiled: weakref.WeakKeyDictionary[Any, _Compiled] = weakref.WeakKeyDictionary()
        self.fallback_reason = ""  # why this process runs the plain path ("": it does not)
        self.verified = False  # the self-test passed on a found row

    # --- the two paths -------------------------------------------------------------------------
    def plain(self, **values: str) -> M | None:
        """The queryset run the ordinary, public way."""
        rows = list(self.build(**values)[:1])
        return rows[0] if rows else None

    def first(self, **values: str) -> M | None:
        """The first row for ``values``, or None: compiled when enabled and trusted."""
        if self.fallback_reason or not compiled_lookups_enabled():
            return self.plain(**values)
        try:
            found = self._run_compiled(values)
        except INTERNALS_CHANGED as exc:
            self.fall_back(f"{type(exc).__name__} from Django's query internals: {exc}")
            return self.plain(**values)
        if found is not None and not self.verified:
            return self._self_test(found, values)
        return found

    async def afirst(self, **values: str) -> M | None:
        """``first`` for the async stores, on the thread Django's async ORM runs queries on."""
        return await sync_to_async(self.first)(**values)

    def fall_back(self, reason: str) -> None:
        """Run the plain path from now on in this process, saying why once."""
        if not self.fallback_reason:
            logger.warning(
                "Bolt store lookup %s: precompiled path off for this process (%s); lookups run "
                "as plain querysets: the same answers, slower. Django's private query API has "
                "changed: see installations/bolt/compiled_lookup.py",
                self.name,
                reason,
            )
        self.fallback_reason = reason

    # --- the compiled path ---------------------------------------------------------------------
    def _compile(self, connection: Any) -> _Compiled:
        if _DEFERRED is None:
            raise AttributeError("django.db.models.base.DEFERRED is gone")
        compiler = self.build(**self.slots).query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        names = {slot: name for name, slot in self.slots.items()}
        template = [(names.get(p) if isinstance(p, str) else None, p) for p in params]
        if {name for name, _ in template if name} != set(self.slots):
            raise ValueError("the compiled SQL's parameters are not the lookup's values")
        select, info = compiler.select, compiler.klass_info
        converters = compiler.get_converters([column[0] for column in select])
        # SQLite: Django rewrites %s to ? with a regex on every execute (a third of a lookup)
        qmark = QMARK.sub("?", sql).replace("%%", "%") if connection.vendor == "sqlite" else None
        return _Compiled(
            sql=sql,
            qmark_sql=qmark,
            template=template,
            converters=[(pos, list(funcs), expr) for pos, (funcs, expr) in converters.items()],
            layout=_Layout.of(info, select, len(select)),
        )

    def _run_compiled(self, values: dict[str, str]) -> M | None:
        connection = connections[router.db_for_read(self.model)]
        compiled = self.compiled.get(connection)
        if compiled is None:
            compiled = self.compiled[connection] = self._compile(connection)
        params = [values[name] if name else value for name, value in compiled.template]
        if compiled.qmark_sql and not connection.queries_logged and not connection.execute_wrappers:
            connection.ensure_connection()
            with connection.wrap_database_errors:
                row = connection.connection.execute(compiled.qmark_sql, params).fetchone()
        else:  # the ordinary path keeps query logging and execute wrappers working
            with connection.cursor() as cursor:
                cursor.execute(compiled.sql, params)
                row = cursor.fetchone()
        if row is None:
            return None
        return compiled.instance(row, connection)  # type: ignore[return-value]  # self.model

    # --- the self-test -------------------------------------------------------------------------
    def _self_test(self, found: M, values: dict[str, str]) -> M | None:
        """Compare the compiled path's first found row with the plain path's, once a process."""
        expected = self.plain(**values)
        problem = difference(found, expected)
        if problem:
            self.fall_back(f"self-test: {problem}")
            return expected
        self.verified = True
        return found


def _comparable(value: Any) -> Any:
    # A StoredEnvelope has no equality of its own: the envelope and the row it is bound to.
    return (value.envelope, value.row) if isinstance(value, StoredEnvelope) else value


def difference(found: Model | None, expected: Model | None, path: str = "row") -> str:
    """Where two loaded instances differ ("" when they match), related rows included.

    Compares what was loaded, as loaded (no decryption): the class, the deferred fields, every
    loaded column's value, and each related instance loaded with it (select_related).
    """
    if found is None or expected is None:
        return "" if found is expected else f"{path}: one path found no row"
    if type(found) is not type(expected):
        return f"{path}: {type(found).__name__} instead of {type(expected).__name__}"
    if found.get_deferred_fields() != expected.get_deferred_fields():
        return f"{path}: other columns loaded"
    for field in expected._meta.concrete_fields:
        if field.attname in expected.get_deferred_fields():
            continue
        ours, theirs = found.__dict__.get(field.attname), expected.__dict__.get(field.attname)
        if _comparable(ours) != _comparable(theirs):
            return f"{path}.{field.attname} differs"
        if not field.is_relation:
            continue
        cached = field.is_cached(expected)  # type: ignore[attr-defined]
        if cached != field.is_cached(found):  # type: ignore[attr-defined]
            return f"{path}.{field.name}: related row loaded on one path only"
        if cached:
            problem = difference(
                field.get_cached_value(found),  # type: ignore[attr-defined]
                field.get_cached_value(expected),  # type: ignore[attr-defined]
                f"{path}.{field.name}",
            )
            if problem:
                return problem
    return ""
