"""Worker threads for the scheduled jobs: a few Slack calls in flight, memory flat in the rows.

The calling thread alone advances ``items``, and only as results come back, so at most
``window`` items are in flight. A worker closes its database connection after each item.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from itertools import islice
from typing import TypeVar

from django.db import connection

Item = TypeVar("Item")
Result = TypeVar("Result")


def in_threads(
    items: Iterable[Item],
    work: Callable[[Item], Result],
    *,
    threads: int,
    window: int | None = None,
    name: str = "job",
) -> Iterator[Result]:
    """``work(item)`` for each item on ``threads`` worker threads, results as they finish; a
    worker's exception stops the run and is raised here.

    Inside a transaction the work runs in the calling thread: other connections could neither
    see what it wrote nor write rows it holds until it commits.
    """
    if threads <= 1 or connection.in_atomic_block:
        yield from map(work, items)
        return

    def run(item: Item) -> Result:
        try:
            return work(item)
        finally:
            connection.close()  # this worker thread's own connection

    source = iter(items)
    pool = ThreadPoolExecutor(threads, thread_name_prefix=name)
    try:
        window = max(window or 2 * threads, threads)
        pending: set[Future[Result]] = {pool.submit(run, item) for item in islice(source, window)}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
            pending |= {pool.submit(run, item) for item in islice(source, len(done))}
    finally:
        pool.shutdown(cancel_futures=True)
