"""Run a scheduled job (``manage.py slack_verify`` ...) in a process of its own, as cron does.

The stand-in stays in the benchmark's process, so the job and "Slack" do not share one GIL (in
production they do not share a machine), and the job's peak memory is its own: the child reports
``ru_maxrss`` as it exits. The environment is the benchmark's (bootstrap.setup_django and
start_standin set the database, keys and the stand-in's URL).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass

from benchmarks.bootstrap import ROOT

_CHILD = """
import os, resource, sys
sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slackinstall.settings")
from django.core.management import execute_from_command_line
try:
    execute_from_command_line(["manage.py", *sys.argv[1:]])
finally:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    print(f"peak_rss_kib={usage.ru_maxrss} cpu_seconds={cpu:.3f}", file=sys.stderr)
"""


@dataclass(frozen=True)
class JobRun:
    exit_code: int
    seconds: float  # the job's own figure (its summary line), without interpreter start-up
    wall_seconds: float
    peak_rss_mib: float
    cpu_seconds: float  # the job process's CPU time (user + system), start-up included
    summary: str  # the job's last line: "<job>: key=value ... status=ok|failed"

    def count(self, key: str) -> int:
        match = re.search(rf"\b{key}=(\d+)", self.summary)
        return int(match.group(1)) if match else 0


def start(*args: str) -> subprocess.Popen[str]:
    """Start ``manage.py <args>`` in a child process (stdout and stderr piped)."""
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, *args],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], started: float) -> JobRun:
    out, err = process.communicate()
    wall = time.perf_counter() - started
    lines = out.strip().splitlines()
    summary = lines[-1] if lines else ""
    seconds = re.search(r"\bseconds=([\d.]+)", summary)
    rss = re.search(r"peak_rss_kib=(\d+)", err)
    cpu = re.search(r"cpu_seconds=([\d.]+)", err)
    if not summary or seconds is None:
        print(err[-2000:], file=sys.stderr)
        raise RuntimeError(f"the job printed no summary line (exit {process.returncode})")
    return JobRun(
        exit_code=process.returncode,
        seconds=float(seconds.group(1)),
        wall_seconds=wall,
        peak_rss_mib=int(rss.group(1)) / 1024 if rss else 0.0,
        cpu_seconds=float(cpu.group(1)) if cpu else 0.0,
        summary=summary,
    )


def run(*args: str) -> JobRun:
    """``manage.py <args>`` in a child process, to its end."""
    started = time.perf_counter()
    return finish(start(*args), started)
