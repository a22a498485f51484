"""``/metrics``: the Prometheus text format, for a bearer of ``METRICS_TOKEN`` only.

Unset, the URL answers 404 as if it did not exist; no or another scheme than ``Bearer`` gets
401 with a ``WWW-Authenticate`` challenge, a wrong token 403; a database that refuses (the data
gauges are read from it) 503, so the scrape fails visibly (``up`` is 0), never a 500. Counters
and histograms come from prometheus_client (all gunicorn workers at once in its multiprocess mode,
which the project's gunicorn.conf.py switches on); the gauges about the data are read at scrape
time from the cached counts and the job table (reporting/gauges.py). docs/production.md lists
every metric.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

from django.conf import settings
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from installations.reporting.gauges import REASON_NAMES, STATUSES, job_runs, workspace_counts

logger = logging.getLogger(__name__)


def configured_token() -> str:
    token = getattr(settings, "METRICS_TOKEN", "")
    return token if isinstance(token, str) else ""


@require_safe
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    token = configured_token()
    if not token:
        raise Http404("metrics are off (METRICS_TOKEN is not set)")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        response = HttpResponse("a bearer token is needed\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if not constant_time_compare(given.strip(), token):
        return HttpResponse("wrong token\n", status=403, content_type="text/plain")
    try:
        body = generate_latest(_process_registry()) + generate_latest(_data_registry())
    except DatabaseError as exc:  # the gauges are read from it: no partial answer
        logger.warning("metrics not served: the database refused (%s)", type(exc).__name__)
        return HttpResponse("the database is unavailable\n", status=503, content_type="text/plain")
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


def _process_registry() -> CollectorRegistry:
    """Every worker's counters in multiprocess mode, else this process's own registry."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def _data_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DataCollector())
    return registry


class DataCollector(Collector):
    """Gauges read from the database (through the cached counts) when scraped."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = workspace_counts()
        by_status = GaugeMetricFamily(
            "slackinstall_workspaces", "Install targets by status.", labels=["status"]
        )
        for status in STATUSES:
            by_status.add_metric([status], counts[status])
        yield by_status
        by_reason = GaugeMetricFamily(
            "slackinstall_workspaces_needing_reinstall",
            "Install targets that need a reinstall, by reason (one may have several).",
            labels=["reason"],
        )
        for reason in REASON_NAMES:
            by_reason.add_metric([reason], counts[reason])
        yield by_reason
        yield from _job_gauges()


def _job_gauges() -> Iterator[GaugeMetricFamily]:
    succeeded = GaugeMetricFamily(
        "slackinstall_job_last_success_timestamp_seconds",
        "When each scheduled job last ended without a problem (Unix time).",
        labels=["job"],
    )
    finished = GaugeMetricFamily(
        "slackinstall_job_last_run_timestamp_seconds",
        "When each scheduled job last ended, whatever the result (Unix time).",
        labels=["job"],
    )
    failed = GaugeMetricFamily(
        "slackinstall_job_last_run_failed",
        "1 when a scheduled job's last run ended with status=failed.",
        labels=["job"],
    )
    for job, last_success, last_finish, last_failed in job_runs():
        if last_success is not None:
            succeeded.add_metric([job], last_success.timestamp())
        finished.add_metric([job], last_finish.timestamp())
        failed.add_metric([job], 1.0 if last_failed else 0.0)
    yield from (succeeded, finished, failed)
