"""Prometheus metrics an operator can alert on (docs/production.md, "Metrics and alerts").

Every label value comes from a fixed set (``bounded``): no id, name or token becomes a label, so
neither Slack nor a visitor can grow the number of series.
"""

from __future__ import annotations

from collections.abc import Collection

from prometheus_client import Counter, Histogram

OTHER = "other"


def bounded(value: object, known: Collection[str]) -> str:
    """``value`` when it is one of ``known``, else ``"other"``: a label never grows unbounded."""
    return value if isinstance(value, str) and value in known else OTHER


# Slack Web API methods the app calls (slack/api.py, signin/exchange.py); any other is "other".
SLACK_METHODS = (
    "oauth.v2.access",
    "oauth.v2.exchange",
    "auth.test",
    "auth.revoke",
    "openid.connect.token",
    "openid.connect.keys",
    "team.info",
)
# Event types Slack sends to the Request URL that the app itself acts on or answers.
EVENT_TYPES = (
    "app_uninstalled",
    "tokens_revoked",
    "team_access_granted",
    "team_access_revoked",
    "url_verification",
)

INSTALLS = Counter(
    "slackinstall_installs_total",
    "Add to Slack callbacks by outcome (ok, cancelled, failed) and reason code.",
    ["outcome", "reason"],
)
SIGNINS = Counter(
    "slackinstall_signins_total",
    "Sign in with Slack callbacks by outcome (ok, or the reason code of the error page).",
    ["outcome"],
)
EVENTS = Counter(
    "slackinstall_events_total",
    "Signed requests to the Request URL by event type and what the app did with them.",
    ["type", "outcome"],
)
SLACK_CALLS = Counter(
    "slackinstall_slack_api_calls_total",
    "HTTP calls to Slack by method and outcome (ok, refused, http_error, unreachable).",
    ["method", "outcome"],
)
SLACK_LATENCY = Histogram(
    "slackinstall_slack_api_call_seconds",
    "Time from sending a request to Slack to having its whole answer, by method.",
    ["method"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
LIFECYCLE = Counter(
    "slackinstall_lifecycle_events_total",
    "History entries by kind: installs, uninstalls, revocations, verify and refresh results.",
    ["kind"],
)
CACHE_FAILURES = Counter(
    "slackinstall_cache_failures_total",
    "Uses of the shared cache that failed or were skipped while it was failing.",
    ["operation"],
)
UNDECRYPTABLE = Counter(
    "slackinstall_undecryptable_values_total",
    "Stored values this process could not decrypt (a missing or wrong key in "
    "TOKEN_ENCRYPTION_KEYS).",
)


def slack_method(url: str) -> str:
    """The Web API method a request URL names (its last path segment), bounded."""
    path = url.split("?", 1)[0].rstrip("/")
    return bounded(path.rsplit("/", 1)[-1], SLACK_METHODS)


def install_finished(reason: str) -> None:
    """One Add to Slack callback ended: "ok", or the error's ``metric_reason`` (exceptions.py:
    a code from a fixed set). The user pressing Cancel on Slack is no failure of ours."""
    outcome = {"ok": "ok", "access_denied": "cancelled"}.get(reason, "failed")
    INSTALLS.labels(outcome, reason).inc()


def signin_finished(reason: str) -> None:
    """One Sign in with Slack callback ended: "ok", or the error's ``metric_reason``."""
    SIGNINS.labels(reason).inc()


def event_handled(event_type: object, outcome: str) -> None:
    """A signed request to the Request URL was answered; ``outcome`` is a fixed word."""
    EVENTS.labels(bounded(event_type, EVENT_TYPES), bounded(outcome, EVENT_OUTCOMES)).inc()


EVENT_OUTCOMES = (
    "applied",
    "duplicate",
    "ignored",
    "malformed",
    "unknown_target",
    "wrong_app",
    "stale",
    "challenge",
    "bolt",
    "failed",
)

SLACK_CALL_OUTCOMES = ("ok", "rate_limited", "http_error", "timeout", "unreachable")


def slack_call(url: str, outcome: str, seconds: float) -> None:
    """One HTTP call to Slack ended (slack/transport.py, the one way the app reaches Slack)."""
    method = slack_method(url)
    SLACK_CALLS.labels(method, bounded(outcome, SLACK_CALL_OUTCOMES)).inc()
    SLACK_LATENCY.labels(method).observe(seconds)


LIFECYCLE_KINDS = (
    "installed",
    "reinstalled",
    "uninstalled",
    "bot_revoked",
    "user_revoked",
    "verified",
    "verify_failed",
    "refreshed",
    "refresh_failed",
    "revoked",
    "team_access_granted",
    "team_access_revoked",
)


def lifecycle_recorded(kind: str) -> None:
    """A history entry was written (signals.lifecycle_recorded, the one funnel)."""
    LIFECYCLE.labels(bounded(kind, LIFECYCLE_KINDS)).inc()


def cache_failed(operation: str) -> None:
    """A use of the shared cache failed, or was skipped while the cache is failing."""
    CACHE_FAILURES.labels(bounded(operation, ("get", "set", "add", "skipped"))).inc()


def undecryptable() -> None:
    """A stored value could not be decrypted with this process's keys."""
    UNDECRYPTABLE.inc()
