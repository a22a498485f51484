"""gunicorn settings for ``make serve`` (docs.gunicorn.org/en/stable/settings.html).

Every value can be changed from the environment: HOST/PORT, WEB_CONCURRENCY, GUNICORN_THREADS,
GUNICORN_TIMEOUT. Logs are JSON lines on stdout through the same redaction filter as Django's.

gunicorn reads this file in its master process before any worker imports the app, so a broken
configuration stops here with every problem listed and exit status 2 (slackinstall/startup.py),
instead of each worker failing to boot with a traceback.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

# The project beside this file is importable however gunicorn was started (.venv/bin/gunicorn
# puts its own directory first on sys.path, not the working directory).
_PROJECT_DIR = str(Path(__file__).resolve().parent)
if _PROJECT_DIR not in sys.path:
    sys.path.insert(0, _PROJECT_DIR)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slackinstall.settings")
# /metrics adds up every worker's counters (prometheus_client's multiprocess mode): each worker
# writes its values to files in this directory. Set before anything imports prometheus_client;
# emptied when gunicorn starts, so a restart begins from zero as a single process would.
METRICS_DIR = Path(
    os.environ.setdefault(
        "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="slackinstall-metrics-")
    )
)

from slackinstall.startup import exit_if_misconfigured  # noqa: E402 (needs the path above)

exit_if_misconfigured()

wsgi_app = "slackinstall.wsgi:application"

# Loopback by default: a TLS-terminating proxy in front forwards to it. HOST=0.0.0.0 in a container.
bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may use, not the machine's
    except AttributeError:
        return os.cpu_count() or 1


# gunicorn's rule of thumb, capped: each worker holds its own database connections.
workers = int(os.environ.get("WEB_CONCURRENCY", min(2 * _cores() + 1, 8)))
# Threads (the gthread worker) keep a worker responsive while a request waits on Slack.
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Longer than one Slack call's timeout (SLACK_HTTP_TIMEOUT_SECONDS) times the calls in a request.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then, staggered, so slow leaks never add up. Not much more often: a
# new worker costs about half a second of CPU (imports, app set-up, new database connections),
# which every 1,000 requests came to 0.5 ms per request, a twelfth of an install (issue 15).
max_requests = 10000
max_requests_jitter = 1000
# Heartbeat files in memory rather than on a possibly slow container disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
# No runtime control socket: its default path is shared by every gunicorn of this user.
control_socket_disable = True

# Access log without the query string: the OAuth callback's query holds the single-use code.
# %(U)s is the path only; the Referer header (%(f)s) is left out for the same reason.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "installations.observability.redaction.RedactSecretsFilter"}},
    "formatters": {"json": {"()": "installations.observability.log_format.JsonFormatter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
            "filters": ["redact"],
        },
    },
    "root": {"level": "INFO", "handlers": []},  # Django's LOGGING owns the root in workers
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
    },
}


def on_starting(server: object) -> None:
    """Start the metrics from zero: files a previous run of gunicorn left are removed."""
    METRICS_DIR.mkdir(parents=True, exist_ok=True)
    for leftover in METRICS_DIR.glob("*.db"):
        leftover.unlink()


def child_exit(server: object, worker: Any) -> None:
    """A worker ended: its gauges leave the scrape (its counters stay counted)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
