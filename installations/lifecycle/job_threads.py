"""Worker threads for the scheduled jobs: a few Slack calls in flight, memory flat in the rows.

Why: ``slack_verify`` and ``slack_refresh_tokens`` spend most of each item waiting for Slack (tens
of milliseconds per call against a few of work), so they run several calls at once. Feeding a
thread pool one future per workspace held every workspace and every future in memory at once;
here the calling thread pulls items from an iterator (a keyset-paginated query) only as workers
free up, so at most ``window`` items are in flight whatever the number of rows.

Each worker thread keeps its database connection and its kept-alive Slack connections
(``slack.transport``) for the whole run, and closes both when it ends: a connection per item
paid the PostgreSQL and TCP (or TLS) handshakes on every workspace. Items are read from the
database by the calling thread only, so a test's open transaction and SQLite's single writer see
the same reads as before; workers write through their own connections, each in short
transactions (the callers' rule: never one open while Slack answers).

A worker's exception stops the run: queued items are dropped, the workers end, and the exception
is raised in the calling thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db import connection

from installations.slack.transport import close_idle_connections

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class _Raised:
    error: BaseException


class _Stop:
    """Tells a worker there is nothing more to do."""


_STOP = _Stop()


class _Workers(Generic[Item, Result]):
    def __init__(self, work: Callable[[Item], Result], threads: int, name: str) -> None:
        self.work, self.limit, self.name = work, threads, name
        self.todo: queue.Queue[Item | _Stop] = queue.Queue()
        self.done: queue.Queue[Result | _Raised] = queue.Queue()
        self.threads: list[threading.Thread] = []

    def start_one_more(self) -> None:
        """Workers start as items arrive: a run with nothing to do starts none."""
        if len(self.threads) < self.limit:
            thread = threading.Thread(
                target=self._run, name=f"{self.name}-{len(self.threads) + 1}", daemon=True
            )
            thread.start()
            self.threads.append(thread)

    def _run(self) -> None:
        try:
            while not isinstance(item := self.todo.get(), _Stop):
                try:
                    self.done.put(self.work(item))
                except BaseException as exc:  # raised in the calling thread
                    self.done.put(_Raised(exc))
        finally:
            connection.close()  # this thread's own database connection
            close_idle_connections()  # and its kept-alive Slack connections

    def stop(self) -> None:
        while True:  # drop what was queued but not started
            try:
                self.todo.get_nowait()
            except queue.Empty:
                break
        for _ in self.threads:
            self.todo.put(_STOP)
        for thread in self.threads:
            thread.join()


def in_threads(
    items: Iterable[Item],
    work: Callable[[Item], Result],
    *,
    threads: int,
    window: int | None = None,
    name: str = "job",
) -> Iterator[Result]:
    """``work(item)`` for each item on ``threads`` worker threads, results as they finish.

    At most ``window`` items (default twice the threads) are taken from ``items`` and not yet
    answered; ``items`` is only ever advanced by the calling thread.

    Called inside a transaction (``atomic``), the work runs in the calling thread, one item at a
    time: other threads' connections could neither see what that transaction wrote nor write
    rows it holds (SQLite's one writer, a PostgreSQL row lock) until it commits.
    """
    if threads <= 1 or connection.in_atomic_block:
        yield from map(work, items)
        return
    window = max(window or 2 * threads, threads)
    workers: _Workers[Item, Result] = _Workers(work, threads, name)
    source = iter(items)
    in_flight = 0
    exhausted = False
    try:
        while True:
            while not exhausted and in_flight < window:
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                workers.todo.put(item)
                in_flight += 1
                workers.start_one_more()
            if in_flight == 0:
                return
            result = workers.done.get()
            in_flight -= 1
            if isinstance(result, _Raised):
                raise result.error
            yield result
    finally:
        workers.stop()
