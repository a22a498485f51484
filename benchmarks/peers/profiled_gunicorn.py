"""gunicorn.conf.py plus a CPU profile of every worker: ``install_flow.py --profile DIR``.

gunicorn --config benchmarks/peers/profiled_gunicorn.py ... with BENCH_PROFILE_DIR set. Every
setting is the project's (this file runs gunicorn.conf.py and keeps its names); on top, each
worker profiles its main thread (accepting, polling, the keep-alive bookkeeping) and each
request thread (``worker.handle``: parsing, the WSGI app, writing the answer, the access log)
with cProfile on the thread's CPU clock, and writes one file per thread when it exits. Read
them together with ``pstats.Stats(*files)``: the whole server's CPU, gunicorn's own included,
which an in-process profile through Django's test client cannot show.
"""

from __future__ import annotations

import cProfile
import os
import runpy
import threading
import time
from typing import Any

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
globals().update(
    {
        name: value
        for name, value in runpy.run_path(os.path.join(_ROOT, "gunicorn.conf.py")).items()
        if not name.startswith("__")
    }
)

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()
_local = threading.local()


def _new_profile() -> cProfile.Profile:
    profile = cProfile.Profile(time.thread_time)  # CPU, not waiting on sockets
    with _lock:
        _profiles.append(profile)
    return profile


def post_worker_init(worker: Any) -> None:
    _new_profile().enable()  # this thread goes on to run the worker's loop
    handle = worker.handle

    def profiled(conn: Any) -> Any:
        profile = getattr(_local, "profile", None)
        if profile is None:
            profile = _local.profile = _new_profile()
        profile.enable()
        try:
            return handle(conn)
        finally:
            profile.disable()

    worker.handle = profiled  # gthread submits ``self.handle`` for every connection


def worker_exit(server: Any, worker: Any) -> None:
    folder = os.environ["BENCH_PROFILE_DIR"]
    with _lock:
        for number, profile in enumerate(_profiles):
            profile.disable()
            profile.dump_stats(os.path.join(folder, f"worker-{os.getpid()}-{number}.prof"))
