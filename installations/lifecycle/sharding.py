"""``--shard I/N``: split the scheduled jobs' workspaces between hosts, the same way on every host.

A workspace belongs to shard ``I`` of ``N`` when its UUID as an integer, modulo ``N``, is
``I - 1``, so N hosts cover every workspace once without talking. Sharding only spreads the
work: claims and conditional verdicts make overlapping shards safe.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)

_SHARD = re.compile(r"([1-9][0-9]{0,3})/([1-9][0-9]{0,3})")


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based, as operators write it
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"2/3"`` -> Shard(2, 3); ValueError with plain words otherwise."""
        match = _SHARD.fullmatch(text.strip())
        if not match:
            raise ValueError("--shard must be I/N with 1 <= I <= N, e.g. 1/2")
        index, count = int(match.group(1)), int(match.group(2))
        if index > count:
            raise ValueError("--shard must be I/N with 1 <= I <= N, e.g. 1/2")
        return cls(index, count)

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, pk: object) -> bool:
        if self.count == 1:
            return True
        value = pk.int if isinstance(pk, uuid.UUID) else uuid.UUID(str(pk)).int
        return value % self.count == self.index - 1


EVERYTHING = Shard(1, 1)


def rows_by_key(
    query: Callable[[], QuerySet[M]], shard: Shard = EVERYTHING, *, batch_size: int
) -> Iterator[M]:
    """The rows of ``query()`` that ``shard`` holds, by primary key, a keyset page at a time,
    each asked afresh, so a row another runner handled meanwhile drops out."""
    last: Any = None
    while True:
        page = query().order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        rows = list(page[:batch_size])
        yield from (row for row in rows if shard.holds(row.pk))
        if len(rows) < batch_size:
            return
        last = rows[-1].pk
