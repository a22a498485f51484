"""Key rotation: count values per key id and move every value under the active key.

Walks each encrypted column in primary-key order, a batch at a time (keyset pagination: bounded
memory, no OFFSET scans). A batch is read without locks and written back with one UPDATE per
batch whose every value is conditional on the envelope that was read: a value written meanwhile
(a token refreshed while the run goes on) no longer matches and is left as its writer stored it,
so nothing is ever overwritten with an older token. Each batch commits on its own, so a run that
stops halfway leaves every value readable with the old and new keys listed, and running again
finishes the rest. Values already under the active key are left alone (idempotent).

Opening and sealing a value is cheap; statements per row and locked re-reads are not. Hence one
read per batch, one UPDATE per batch (``_Statement``) and, on PostgreSQL, that UPDATE running on
a second connection while the next batch is re-sealed.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import connection, models, transaction
from django.db.models import Count

from installations.encryption import configured
from installations.encryption.fields import EncryptedDataError, EncryptedTextField, StoredEnvelope
from installations.encryption.keyring import FORMAT
from installations.encryption.models import encrypted_fields
from installations.encryption.stored_kids import kid_expression

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (values re-encrypted so far, rows scanned so far)
Row = tuple[Any, ...]  # (pk, one StoredEnvelope or None per encrypted column)


@dataclass
class Unreadable:
    label: str
    field: str
    row: object
    kid: str | None


@dataclass
class ReencryptReport:
    reencrypted: Counter[str] = field(default_factory=Counter)  # by the key id they left
    unreadable: list[Unreadable] = field(default_factory=list)
    rows_scanned: int = 0
    changed_meanwhile: int = 0  # values another writer replaced between our read and our write


@dataclass
class _Change:
    """One row's new envelopes: per column, (old envelope, new envelope, key id it leaves)."""

    pk: object
    columns: dict[int, tuple[str, str, str]]


def encrypted_models() -> list[tuple[type[models.Model], tuple[EncryptedTextField, ...]]]:
    found = []
    for model in apps.get_app_config("installations").get_models():
        fields = encrypted_fields(model)
        if fields:
            found.append((model, fields))
    return found


def _batches(
    model: type[models.Model], fields: Sequence[EncryptedTextField], batch_size: int
) -> Iterator[list[Row]]:
    """(pk, envelopes...) rows in primary-key order, one batch at a time, nothing decrypted."""
    names = [f.attname for f in fields]
    last = None
    while True:
        query = model._base_manager.order_by("pk")
        if last is not None:
            query = query.filter(pk__gt=last)
        batch = list(query.values_list("pk", *names)[:batch_size])
        if not batch:
            return
        yield batch
        last = batch[-1][0]


def census() -> Counter[str]:
    """How many stored values each key id protects (all models, all encrypted columns).

    Counted in SQL from the envelopes' clear key-id prefix (stored_kids.py): one GROUP BY per
    column, no value read into Python.
    """
    counts: Counter[str] = Counter()
    for model, fields in encrypted_models():
        for column in fields:
            rows = (
                model._base_manager.filter(**{f"{column.attname}__isnull": False})
                .annotate(stored_kid=kid_expression(column.attname))
                .order_by()
                .values("stored_kid")
                .annotate(n=Count("*"))
                .values_list("stored_kid", "n")
            )
            for kid, n in rows:
                counts[kid or "unknown"] += n
    return counts


def reencrypt(batch_size: int = 500, progress: Progress | None = None) -> ReencryptReport:
    """Re-encrypt every value not under the active key; returns what moved and what failed."""
    active_prefix = f"{FORMAT}.{configured.keyring().active_kid}."
    report = ReencryptReport()
    with _writer(report) as writer:
        for model, fields in encrypted_models():
            for batch in _batches(model, fields, batch_size):
                changes = _reseal(fields, batch, active_prefix, report)
                if changes:
                    writer.submit(model, fields, changes)
                report.rows_scanned += len(batch)
                if progress:
                    writer.collect()
                    progress(sum(report.reencrypted.values()), report.rows_scanned)
    return report


class _Written:
    """What one batch's UPDATE wrote: values moved, by the key id they left, and values that
    another writer replaced first."""

    def __init__(self) -> None:
        self.moved: Counter[str] = Counter()
        self.changed_meanwhile = 0


class _InlineWriter:
    """Writes each batch as it comes, on the caller's connection."""

    def __init__(self, report: ReencryptReport) -> None:
        self.report = report

    def submit(
        self,
        model: type[models.Model],
        fields: Sequence[EncryptedTextField],
        changes: list[_Change],
    ) -> None:
        self._add(_write(model, fields, changes))

    def collect(self) -> None:
        """Count what has been written so far into the report (here: all of it)."""

    def close(self) -> None:
        self.collect()

    def _add(self, written: _Written) -> None:
        self.report.reencrypted.update(written.moved)
        self.report.changed_meanwhile += written.changed_meanwhile


class _BackgroundWriter(_InlineWriter):
    """Writes batches on a connection of its own, in a thread, while the caller reads and
    re-seals the next batch: PostgreSQL executes one batch's UPDATE while Python does the
    cryptography of the next (on two cores, the run takes about the longer of the two instead
    of their sum). One batch waits at most (bounded memory); batches commit in order, and the
    first error stops the run and is raised to the caller, as the inline writer would.
    """

    def __init__(self, report: ReencryptReport) -> None:
        super().__init__(report)
        self.todo: queue.Queue[tuple[Any, ...] | None] = queue.Queue(maxsize=1)
        self.done: queue.SimpleQueue[_Written] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name="slack-reencrypt-writer")
        self.thread.start()

    def submit(
        self,
        model: type[models.Model],
        fields: Sequence[EncryptedTextField],
        changes: list[_Change],
    ) -> None:
        self._raise_failure()
        self.collect()  # bounded memory: results never pile up in the done queue
        self.todo.put((model, fields, changes))  # waits while a batch is already waiting

    def collect(self) -> None:
        while not self.done.empty():
            self._add(self.done.get())

    def close(self) -> None:
        self.todo.put(None)
        self.thread.join()
        self.collect()
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def _work(self) -> None:
        try:
            while (item := self.todo.get()) is not None:
                if self.error is None:  # after a failure, only drain: the caller stops
                    try:
                        self.done.put(_write(*item))
                    except BaseException as exc:  # re-raised in the caller's thread
                        self.error = exc
        finally:
            connection.close()  # this thread's own connection


@contextmanager
def _writer(report: ReencryptReport) -> Iterator[_InlineWriter]:
    """A background writer on PostgreSQL outside a transaction; else the inline one (SQLite
    has one writer at a time anyway, and inside the caller's transaction a second connection
    would not see the caller's uncommitted rows)."""
    background = connection.vendor == "postgresql" and not connection.in_atomic_block
    writer = _BackgroundWriter(report) if background else _InlineWriter(report)
    try:
        yield writer
    except BaseException:
        if isinstance(writer, _BackgroundWriter):
            writer.todo.put(None)
            writer.thread.join()
        raise
    writer.close()


def _reseal(
    fields: Sequence[EncryptedTextField],
    batch: list[Row],
    active_prefix: str,
    report: ReencryptReport,
) -> list[_Change]:
    """The new envelopes of a batch; values that cannot be decrypted are reported, not moved."""
    changes = []
    for pk, *values in batch:
        columns: dict[int, tuple[str, str, str]] = {}
        for index, (column, sealed) in enumerate(zip(fields, values, strict=True)):
            if not isinstance(sealed, StoredEnvelope) or sealed.envelope.startswith(active_prefix):
                continue
            try:
                new = column.reseal(sealed, pk)
            except EncryptedDataError as exc:
                report.unreadable.append(Unreadable(exc.label, exc.field, exc.row, exc.kid))
                logger.error("re-encrypt: %s", exc)
                continue
            columns[index] = (sealed.envelope, new, sealed.kid or "unknown")
        if columns:
            changes.append(_Change(pk, columns))
    return changes


def _write(
    model: type[models.Model], fields: Sequence[EncryptedTextField], changes: list[_Change]
) -> _Written:
    """Store a batch's new envelopes, each only where the row still holds the envelope read;
    count what was written by the key id it left."""
    stored_now = _Statement(model, fields).run(changes)
    written = _Written()
    for change in changes:
        stored = stored_now.get(change.pk)
        for index, (_, _, kid) in change.columns.items():
            if stored is not None and stored[index]:
                written.moved[kid] += 1
            else:
                written.changed_meanwhile += 1
    return written


class _Statement:
    """One conditional UPDATE for a whole batch of one model's rows.

    The batch travels as one JSON parameter, ``[[pk, old0, new0, old1, new1, ...], ...]``
    (``None`` where a column does not change), unpacked by the database (PostgreSQL:
    ``jsonb_array_elements``, SQLite: ``json_each``). Then, per column, ``c = CASE WHEN c = old
    THEN new ELSE c END``, ``RETURNING`` what was written (PostgreSQL: ``c = new`` per column;
    SQLite's RETURNING cannot name the FROM table, so the columns), counted exactly. One
    statement, so atomic without a transaction of its own (two round trips fewer per batch).
    PostgreSQL re-checks the conditions on the newest row version when a concurrent writer got
    there first (READ COMMITTED), so a token refreshed meanwhile stays as its writer stored it.

    Why this shape: an ``executemany`` is one statement per row; a ``VALUES`` list is a new SQL
    text with thousands of placeholders per batch (psycopg parses each anew); arrays in text
    format are costly for the server to parse, one JSON text is not, and it goes through
    Django's ordinary cursor. ``BETWEEN`` the batch's first and last pk lets the
    join read the batch's rows through the primary key index instead of the whole table.
    """

    def __init__(self, model: type[models.Model], fields: Sequence[EncryptedTextField]) -> None:
        quote = connection.ops.quote_name
        pk_field = model._meta.pk
        if pk_field is None:  # unreachable: every concrete model has one
            raise TypeError(f"{model._meta.label} has no primary key")
        self.pk_field = pk_field
        self.width = len(fields)
        self.table = quote(model._meta.db_table)
        self.pk = f"{self.table}.{quote(pk_field.column or pk_field.attname)}"
        self.columns = [quote(f.column or f.attname) for f in fields]

    def sql(self) -> str:
        """The statement: one JSON parameter, then the batch's first and last pk."""
        names = ["pk", *(f"{kind}{i}" for i in range(self.width) for kind in ("o", "n"))]
        target = [f"{self.table}.{column}" for column in self.columns]
        if connection.vendor == "postgresql":
            pk_type = self.pk_field.rel_db_type(connection)
            unpacked = [f"CAST(e->>0 AS {pk_type})", *(f"e->>{i}" for i in range(1, len(names)))]
            rows = "jsonb_array_elements(CAST(%s AS jsonb)) AS e"
            returned = [f"{c} = v.n{i}" for i, c in enumerate(target)]
        else:
            unpacked = [f"json_extract(e.value, '$[{i}]')" for i in range(len(names))]
            rows = "json_each(%s) AS e"
            returned = target
        source = ", ".join(
            f"{value} AS {name}" for value, name in zip(unpacked, names, strict=True)
        )
        assignments = ", ".join(
            f"{column} = CASE WHEN {c} = v.o{i} THEN v.n{i} ELSE {c} END"
            for i, (column, c) in enumerate(zip(self.columns, target, strict=True))
        )
        still_there = " OR ".join(f"{c} = v.o{i}" for i, c in enumerate(target))
        return (
            f"UPDATE {self.table} SET {assignments} FROM (SELECT {source} FROM {rows}) AS v "  # noqa: S608 (model metadata)
            f"WHERE {self.pk} = v.pk AND {self.pk} BETWEEN %s AND %s AND ({still_there}) "
            f"RETURNING {self.pk}, {', '.join(returned)}"
        )

    def run(self, changes: list[_Change]) -> dict[object, tuple[bool, ...]]:
        """Run it for ``changes``; by pk of each row it wrote, per column whether it holds the
        new envelope now."""
        rows: list[list[Any]] = []
        by_db_pk: dict[object, object] = {}  # as the database returns it (SQLite: UUID as hex)
        for change in changes:
            db_pk = self.pk_field.get_db_prep_value(change.pk, connection)
            by_db_pk[db_pk] = change.pk
            row = [db_pk]
            for index in range(self.width):
                old, new, _ = change.columns.get(index, (None, None, ""))
                row += [old, new]
            rows.append(row)
        first, last = rows[0][0], rows[-1][0]  # the batch is in pk order
        if not _has_update_from_returning():
            return self._row_by_row(rows, by_db_pk)
        with connection.cursor() as cursor:
            cursor.execute(self.sql(), [json.dumps(rows, default=str), first, last])
            returned = cursor.fetchall()
        if connection.vendor == "postgresql":
            return {by_db_pk[pk]: tuple(flags) for pk, *flags in returned}
        news = {row[0]: row[2::2] for row in rows}
        return {
            by_db_pk[pk]: tuple(now == new for now, new in zip(stored, news[pk], strict=True))
            for pk, *stored in returned
        }

    def _row_by_row(
        self, rows: list[list[Any]], by_db_pk: dict[object, object]
    ) -> dict[object, tuple[bool, ...]]:
        """SQLite before 3.35 (no UPDATE ... FROM ... RETURNING): one conditional UPDATE per
        value, in one transaction; slow, and only there."""
        written: dict[object, tuple[bool, ...]] = {}
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            for pk, *pairs in rows:
                flags = [False] * self.width
                for index, column in enumerate(self.columns):
                    old, new = pairs[2 * index], pairs[2 * index + 1]
                    if old is None:
                        continue
                    cursor.execute(
                        f"UPDATE {self.table} SET {column} = %s "  # noqa: S608 (model metadata)
                        f"WHERE {self.pk} = %s AND {column} = %s",
                        [new, pk, old],
                    )
                    flags[index] = cursor.rowcount == 1
                written[by_db_pk[pk]] = tuple(flags)
        return written


def _has_update_from_returning() -> bool:
    """PostgreSQL, or SQLite 3.35+ (Django 5.2 supports SQLite from 3.31)."""
    if connection.vendor != "sqlite":
        return True
    return bool(connection.Database.sqlite_version_info >= (3, 35))  # type: ignore[attr-defined]
