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

On PostgreSQL the compiled SQL also runs as a prepared statement of each connection
(``PREPARE`` once, then ``EXECUTE``): planning the join was 0.2-0.5 ms of a 0.6 ms round trip, and
a prepared statement's generic plan is reused (benchmarks/README.md, section 3). Prepared
statements live in one server session, so they are used only where one client connection keeps
one (see ``prepared_statements_fit``) and outside transactions; a statement that went missing
(``DISCARD ALL``, a pooler) or a PREPARE that failed turns them off for the process with one
WARNING, and the lookup runs the compiled SQL unprepared: same answer, one plan per lookup.

Rows become instances without ``Model.__init__`` (``_Layout.bare_instance``: values straight
into ``__dict__``, post_init still sent), unless the model has pre_init receivers; the self-test
compares those instances with the plain path's like any other.

The async stores run the same code (``afirst``), in the thread Django's async ORM would use.
"""

from __future__ import annotations

import hashlib
import logging
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Generic, TypeVar

from asgiref.sync import sync_to_async
from django.db import DatabaseError, connections, router
from django.db.models import Model, QuerySet
from django.db.models.signals import post_init, pre_init

from installations.conf import setting
from installations.encryption.fields import EncryptedTextField, StoredEnvelope

_DEFERRED: Any  # private: the marker Model.__init__ skips for a column not loaded
_ModelState: Any  # private: an instance's _state (db alias, adding)
try:  # their disappearance is one of the changes the plain path covers
    from django.db.models.base import DEFERRED as _DEFERRED
    from django.db.models.base import ModelState as _ModelState
except ImportError:  # pragma: no cover (depends on the Django release)
    _DEFERRED = _ModelState = None

logger = logging.getLogger(__name__)

QMARK = re.compile(r"(?<!%)%s")  # as django.db.backends.sqlite3 converts its placeholders
# What a change in the private API can raise while compiling or building a row. Database errors
# are not among them: those come from the query itself, and the plain path would meet them too.
INTERNALS_CHANGED = (AttributeError, KeyError, IndexError, TypeError, ValueError)

M = TypeVar("M", bound=Model)

# PostgreSQL's SQLSTATEs (postgresql.org/docs/current/errcodes-appendix.html)
PREPARED_STATEMENT_EXISTS = "42P05"  # duplicate_prepared_statement
# An EXECUTE that the SQL itself would not meet: the statement is gone from the session
# (invalid_sql_statement_name), or a column's type changed under it (feature_not_supported:
# "cached plan must not change result type")
PREPARED_STATEMENT_UNUSABLE = frozenset({"26000", "0A000"})
PLACEHOLDER_OR_PERCENT = re.compile(r"%([%s])")  # Django's %s parameters and %% escapes


def compiled_lookups_enabled() -> bool:
    """SLACK_COMPILED_LOOKUPS (default True)."""
    return bool(setting("SLACK_COMPILED_LOOKUPS"))


@dataclass(frozen=True)
class _Layout:
    """Where one model's columns sit in the compiled row, and how it hangs off its parent.

    ``pick`` takes the row (with DEFERRED appended) and returns one value per concrete field
    of the model, DEFERRED where the query loads none: the full-width form ``Model.from_db``
    takes without matching every field name against the loaded names (that matching was a
    tenth of a lookup). ``loaded`` returns the loaded values alone, in ``attnames`` order, for
    ``bare_instance`` (Model.__init__ was a third of turning a row into an Installation).
    """

    model: type[Model]
    attnames: list[str]
    pick: Callable[[list[Any]], tuple[Any, ...]]
    loaded: Callable[[list[Any]], tuple[Any, ...]]
    envelopes: tuple[str, ...]  # the loaded encrypted columns (their envelopes know their row)
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
        attnames = [attname for attname in concrete if attname in positions]
        children = info.get("related_klass_infos", [])
        return cls(
            model=model,
            attnames=attnames,
            pick=_getter(picked),
            loaded=_getter([positions[attname] for attname in attnames]),
            envelopes=tuple(
                field.attname
                for field in model._meta.concrete_fields
                if isinstance(field, EncryptedTextField) and field.attname in positions
            ),
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
        if pre_init.has_listeners(self.model):  # sent with __init__'s arguments
            instance = self.model.from_db(alias, self.attnames, self.pick(row))
        else:
            instance = self.bare_instance(row, alias)
        for related in self.related:
            child = related.build(row, alias)
            if related.local_setter is not None:
                related.local_setter(instance, child)
            if child is not None and related.remote_setter is not None:
                related.remote_setter(child, instance)
        return instance

    def bare_instance(self, row: list[Any], alias: str) -> Model:
        """What ``from_db`` builds (EncryptedModel's included: each envelope bound to its row),
        without ``Model.__init__``: the values go straight into the instance's ``__dict__``,
        where the fields' descriptors would put them, and post_init is sent at the point
        ``__init__`` sends it (Workspace has a receiver: signals.py). Not for a model with
        pre_init receivers: that signal carries ``__init__``'s arguments."""
        model = self.model
        instance = model.__new__(model)
        state = instance._state = _ModelState()
        values = instance.__dict__
        values.update(zip(self.attnames, self.loaded(row), strict=True))
        if post_init.has_listeners(model):
            post_init.send(sender=model, instance=instance)
        state.adding, state.db = False, alias  # as from_db sets them, after __init__
        for attname in self.envelopes:
            envelope = values[attname]
            if isinstance(envelope, StoredEnvelope):
                envelope.row = row[self.pk_index]
        return instance


def _getter(positions: list[int]) -> Callable[[list[Any]], tuple[Any, ...]]:
    """A tuple of the row's values at ``positions`` (itemgetter returns a bare value for one)."""
    if len(positions) == 1:
        only = positions[0]
        return lambda row: (row[only],)
    return itemgetter(*positions)


def prepared_statements_fit(connection: Any) -> bool:
    """Whether this PostgreSQL connection may keep our prepared statements across lookups.

    Not behind a transaction pooler (``DISABLE_SERVER_SIDE_CURSORS``, which docs/production.md
    asks for there: consecutive statements may reach different server sessions), not when the
    connection closes after each request (``CONN_MAX_AGE = 0``: a statement would be prepared
    for one use), and not when psycopg prepares statements itself (``prepare_threshold`` set in
    OPTIONS: it then deallocates every prepared statement of the session on each rollback).
    """
    settings_dict = connection.settings_dict
    return (
        connection.vendor == "postgresql"
        and not settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
        and settings_dict.get("CONN_MAX_AGE") != 0
        and not settings_dict.get("OPTIONS", {}).get("server_side_binding")
        and getattr(connection.connection, "prepare_threshold", None) is None
    )


def sqlstate(error: BaseException) -> str | None:
    """PostgreSQL's error code of a database error Django wrapped (psycopg 3 or psycopg2)."""
    cause = error.__cause__
    return getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)


@dataclass(frozen=True)
class _Prepared:
    """The compiled SQL as a named PostgreSQL prepared statement (one per server session).

    The name carries a hash of the SQL: a name that exists in a session holds this very SQL.
    """

    name: str
    prepare_sql: str  # PREPARE name AS ... with $1..$n (run with no parameters)
    execute_sql: str  # EXECUTE name(%s, ...) with the lookup's parameters

    @classmethod
    def of(cls, lookup_name: str, sql: str, parameters: int) -> _Prepared:
        numbers = iter(range(1, parameters + 1))

        def numbered(match: re.Match[str]) -> str:
            if match.group(1) == "%":
                return "%"
            number = next(numbers, None)
            if number is None:
                raise ValueError("the compiled SQL has more placeholders than parameters")
            return f"${number}"

        body = PLACEHOLDER_OR_PERCENT.sub(numbered, sql)
        if next(numbers, None) is not None:
            raise ValueError("the compiled SQL has fewer placeholders than parameters")
        slug = re.sub(r"[^a-z0-9]+", "_", lookup_name.lower()).strip("_")
        name = f"slackinstall_{slug}_{hashlib.sha256(sql.encode()).hexdigest()[:16]}"
        marks = ", ".join(["%s"] * parameters)
        return cls(name, f"PREPARE {name} AS {body}", f"EXECUTE {name}({marks})")


@dataclass(frozen=True)
class _Compiled:
    """One lookup compiled for one connection: the SQL and how to turn its row into instances."""

    sql: str
    qmark_sql: str | None  # SQLite only: the SQL with ? placeholders, run on the DB-API cursor
    prepared: _Prepared | None  # PostgreSQL only: the SQL as a prepared statement
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
    Rows become the instances Django's ModelIterable builds (what ``from_db`` makes, related rows
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
        # PostgreSQL: the DB-API connections whose session holds this lookup's prepared
        # statement, and why this process no longer prepares it ("": it does)
        self.prepared_on: weakref.WeakSet[Any] = weakref.WeakSet()
        self.unprepared_reason = ""

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

    def stop_preparing(self, reason: str) -> None:
        """Run the compiled SQL unprepared from now on in this process, saying why once."""
        if not self.unprepared_reason:
            logger.warning(
                "Bolt store lookup %s: prepared statements off for this process (%s); lookups "
                "run the same SQL unprepared: the same answers, planned every time. Behind a "
                "transaction pooler set DISABLE_SERVER_SIDE_CURSORS (docs/production.md)",
                self.name,
                reason,
            )
        self.unprepared_reason = reason

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
        postgres = connection.vendor == "postgresql"
        return _Compiled(
            sql=sql,
            qmark_sql=qmark,
            prepared=_Prepared.of(self.name, sql, len(params)) if postgres else None,
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
        elif compiled.prepared is not None and self._may_prepare(connection):
            row = self._run_prepared(connection, compiled.prepared, compiled.sql, params)
        else:  # the ordinary path keeps query logging and execute wrappers working
            row = _fetch_one(connection, compiled.sql, params)
        if row is None:
            return None
        return compiled.instance(row, connection)  # type: ignore[return-value]  # self.model

    # --- PostgreSQL: the compiled SQL as a prepared statement -----------------------------------
    def _may_prepare(self, connection: Any) -> bool:
        """Outside transactions only: a failed PREPARE or EXECUTE then aborts nothing, and the
        lookup can run the SQL unprepared instead."""
        if self.unprepared_reason or connection.in_atomic_block:
            return False
        # The request's health check (CONN_HEALTH_CHECKS) reconnects here if it must, not
        # between reading the session below and the EXECUTE on it.
        connection.close_if_health_check_failed()
        return bool(connection.get_autocommit()) and prepared_statements_fit(connection)

    def _run_prepared(
        self, connection: Any, prepared: _Prepared, sql: str, params: list[Any]
    ) -> tuple[Any, ...] | None:
        """EXECUTE the statement (PREPAREd first on a new session); ``sql`` unprepared when
        the session cannot hold it."""
        session = connection.connection
        if session not in self.prepared_on:
            try:
                _execute(connection, prepared.prepare_sql, None)
            except DatabaseError as exc:
                code = sqlstate(exc)
                if code is None:
                    raise  # no answer from the server (a lost connection): the SQL would fail too
                if code != PREPARED_STATEMENT_EXISTS:  # exists: same name, so the same SQL
                    self.stop_preparing(f"PREPARE failed: {code}")
                    return _fetch_one(connection, sql, params)
            self.prepared_on.add(session)
        try:
            return _fetch_one_direct(connection, prepared.execute_sql, params)
        except DatabaseError as exc:
            code = sqlstate(exc)
            if code not in PREPARED_STATEMENT_UNUSABLE:
                raise  # the query's own error: the unprepared SQL would meet it too
            # Dropped behind our back (DISCARD ALL, DEALLOCATE ALL), another server session (a
            # pooler), or a migration changed a column: in autocommit nothing was aborted, so
            # run the SQL itself. A new session (Django reconnected) is prepared next time.
            self.prepared_on.discard(session)
            if connection.connection is session:
                self.stop_preparing(f"EXECUTE failed: {code}")
            return _fetch_one(connection, sql, params)

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


def _execute(connection: Any, sql: str, params: list[Any] | None) -> None:
    """A statement with no rows (PREPARE), through Django's cursor like ``_fetch_one``."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _fetch_one(connection: Any, sql: str, params: list[Any]) -> tuple[Any, ...] | None:
    """Through Django's cursor: query logging, execute wrappers and error wrapping apply."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row: tuple[Any, ...] | None = cursor.fetchone()
        return row


def _fetch_one_direct(connection: Any, sql: str, params: list[Any]) -> tuple[Any, ...] | None:
    """``_fetch_one`` on the backend's own cursor, without Django's cursor wrapper (6% of a
    PostgreSQL lookup), when nothing would see the difference: queries are not logged and no
    execute wrapper is installed. For the prepared path only, where ``_may_prepare`` has opened
    and health-checked the connection and no transaction is open (nothing to validate)."""
    if connection.queries_logged or connection.execute_wrappers:
        return _fetch_one(connection, sql, params)
    with connection.wrap_database_errors:
        cursor = connection.create_cursor()  # as Django's cursor() makes it (time zone)
        try:
            cursor.execute(sql, params)
            row: tuple[Any, ...] | None = cursor.fetchone()
            return row
        finally:
            cursor.close()


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
