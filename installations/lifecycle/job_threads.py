"""Worker threads for the scheduled jobs: a few Slack calls in flight, memory flat in the rows.

The calling thread alone advances ``items``, and only as results come back, so at most
``window`` items are in flight. Each worker keeps its database connection for the whole run (a
new PostgreSQL connection per item costs a backend process each) and closes it at the end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from itertools import islice
from typing import TypeVar

from django.db import connection, connections

Item = TypeVar("Item")
Result = TypeVar("Result")


def in_thread_batches(
    items: Iterable[Item],
    work: Callable[[Item], Result],
    *,
    threads: int,
    window: int | None = None,
    name: str = "job",
) -> Iterator[list[Result]]:
    """``work(item)`` for each item on ``threads`` worker threads; the results that finished
    together as one list (the caller may write them in one transaction). A worker's exception
    stops the run and is raised here.

    Inside a transaction the work runs in the calling thread: other connections could neither
    see what it wrote nor write rows it holds until it commits.
    """
    if threads <= 1 or connection.in_atomic_block:
        yield from ([work(item)] for item in items)
        return

    source = iter(items)
    pool = ThreadPoolExecutor(threads, thread_name_prefix=name)
    pending: set[Future[Result]] = set()
    try:
        window = max(window or 2 * threads, threads)
        pending = {pool.submit(work, item) for item in islice(source, window)}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            yield [future.result() for future in done]
            pending |= {pool.submit(work, item) for item in islice(source, len(done))}
    finally:
        for future in pending:  # stopped early (an exception, or the caller stopped reading)
            future.cancel()
        close_worker_connections(pool, threads)
        pool.shutdown(wait=True)


def close_worker_connections(pool: ThreadPoolExecutor, threads: int) -> None:
    """One task per worker thread, each closing its own thread's connections: a barrier keeps
    every task waiting until all run, so no thread takes two (a connection belongs to its
    thread). A stuck worker only delays the others by the barrier's timeout."""
    barrier = threading.Barrier(threads)

    def close_here() -> None:
        try:
            barrier.wait(timeout=60)
        except threading.BrokenBarrierError:
            pass
        connections.close_all()

    for _ in range(threads):
        pool.submit(close_here)
