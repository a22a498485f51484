"""Key rotation: count values per key id and move every value under the active key.

Walks each encrypted column in primary-key order, a batch at a time (bounded memory). Each batch
is re-read under a row lock inside its own transaction and committed on its own, so a run that
stops halfway leaves every value readable with the old and new keys listed, and running again
finishes the rest. Values already under the active key are left alone (idempotent).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.apps import apps
from django.db import connection, models, transaction

from installations import conf
from installations.encryption.fields import EncryptedDataError, EncryptedTextField
from installations.encryption.models import encrypted_fields

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (values re-encrypted so far, rows scanned so far)


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


def encrypted_models() -> list[tuple[type[models.Model], list[EncryptedTextField]]]:
    found = []
    for model in apps.get_app_config("installations").get_models():
        fields = encrypted_fields(model)
        if fields:
            found.append((model, fields))
    return found


def _pk_batches(model: type[models.Model], batch_size: int) -> Iterator[list[object]]:
    """Primary keys in order, one batch at a time (keyset pagination: no OFFSET scans)."""
    last = None
    while True:
        query = model._base_manager.order_by("pk")
        if last is not None:
            query = query.filter(pk__gt=last)
        batch = list(query.values_list("pk", flat=True)[:batch_size])
        if not batch:
            return
        yield batch
        last = batch[-1]


def census(batch_size: int = 2000) -> Counter[str]:
    """How many stored values each key id protects (all models, all encrypted columns)."""
    counts: Counter[str] = Counter()
    for model, fields in encrypted_models():
        names = [f.attname for f in fields]
        rows = model._base_manager.values_list(*names).iterator(chunk_size=batch_size)
        for row in rows:
            for sealed in row:
                if sealed is not None:
                    counts[sealed.kid or "unknown"] += 1
    return counts


def reencrypt(batch_size: int = 500, progress: Progress | None = None) -> ReencryptReport:
    """Re-encrypt every value not under the active key; returns what moved and what failed."""
    active = conf.keyring().active_kid
    report = ReencryptReport()
    for model, fields in encrypted_models():
        names = [f.attname for f in fields]
        for batch in _pk_batches(model, batch_size):
            _reencrypt_batch(model, fields, names, batch, active, report)
            report.rows_scanned += len(batch)
            if progress:
                progress(sum(report.reencrypted.values()), report.rows_scanned)
    return report


@transaction.atomic
def _reencrypt_batch(
    model: type[models.Model],
    fields: list[EncryptedTextField],
    names: list[str],
    batch: list[object],
    active: str,
    report: ReencryptReport,
) -> None:
    # Re-read under the lock: a token refreshed meanwhile must not be overwritten with its
    # older value (select_for_update locks rows on PostgreSQL; SQLite's IMMEDIATE mode locks
    # the database for the transaction).
    locked = model._base_manager.select_for_update().filter(pk__in=batch)
    updates: dict[tuple[str, ...], list[list[object]]] = defaultdict(list)
    for pk, *values in locked.values_list("pk", *names):
        changes: dict[str, str] = {}
        for column, sealed in zip(fields, values, strict=True):
            if sealed is None or sealed.kid == active:
                continue
            try:
                plaintext = column.open(sealed, pk)
            except EncryptedDataError as exc:
                report.unreadable.append(Unreadable(exc.label, exc.field, exc.row, exc.kid))
                logger.error("re-encrypt: %s", exc)
                continue
            changes[column.column or column.attname] = column.seal(plaintext, pk)
            report.reencrypted[sealed.kid or "unknown"] += 1
        if changes:
            updates[tuple(changes)].append([*changes.values(), pk])
    _write(model, updates)


def _write(model: type[models.Model], updates: dict[tuple[str, ...], list[list[object]]]) -> None:
    """One executemany per set of changed columns: the ORM's per-row update() costs ~10x more."""
    pk_field = model._meta.pk
    quote = connection.ops.quote_name
    for columns, rows in updates.items():
        assignments = ", ".join(f"{quote(c)} = %s" for c in columns)
        table, pk_column = quote(model._meta.db_table), quote(pk_field.column or pk_field.attname)
        sql = f"UPDATE {table} SET {assignments} WHERE {pk_column} = %s"  # noqa: S608 (names from model metadata)
        params = [[*row[:-1], pk_field.get_db_prep_value(row[-1], connection)] for row in rows]
        with connection.cursor() as cursor:
            cursor.executemany(sql, params)
