"""Worker threads for the scheduled jobs: a few Slack calls in flight, memory flat in the rows.

``slack_verify`` and ``slack_refresh_tokens`` spend most of each item waiting for Slack, so they
run several items at once on a ``ThreadPoolExecutor``. The calling thread alone advances
``items`` (a keyset-paginated query), and only as results come back, so at most ``window`` items
are in flight whatever the number of rows. A worker closes its database connection after each
item: its writes are short transactions of their own (never one open while Slack answers).
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
    """``work(item)`` for each item on ``threads`` worker threads, results as they finish.

    At most ``window`` items (default twice the threads) are taken and not yet answered. A
    worker's exception stops the run (items not started are dropped) and is raised here.

    Called inside a transaction (``atomic``), the work runs in the calling thread, one item at a
    time: other threads' connections could neither see what that transaction wrote nor write
    rows it holds (SQLite's one writer, a PostgreSQL row lock) until it commits.
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
