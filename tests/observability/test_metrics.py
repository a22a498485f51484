"""``/metrics``: who may read it, what it counts, and that no label ever carries an id."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from installations.observability import metrics
from tests.support.flow import Flow

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(settings: Any) -> str:
    settings.METRICS_TOKEN = "fake-metrics-" + secrets.token_hex(12)
    return str(settings.METRICS_TOKEN)


def scrape(client: Client, token: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}", secure=True)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_unset_token_hides_the_url(client: Client, settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything", secure=True)
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("", 401),
        ("Basic dXNlcjpwYXNz", 401),
        ("Bearer", 401),
        ("Bearer ", 401),
        ("Bearer wrong-token-of-some-length", 403),
    ],
)
def test_the_token_is_asked_for(
    client: Client, token: str, header: str | None, status: int
) -> None:
    extra: dict[str, Any] = {} if header is None else {"HTTP_AUTHORIZATION": header}
    response = client.get("/metrics", secure=True, **extra)
    assert response.status_code == status
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"slackinstall_" not in response.content


def test_post_is_refused(client: Client, token: str) -> None:
    response = client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}", secure=True)
    assert response.status_code == 405


def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


@pytest.mark.django_db(transaction=True)  # the cached counts move on when a change commits
def test_installs_are_counted_by_outcome_and_reason(flow: Flow, token: str, client: Client) -> None:
    before = scrape(client, token)
    ok = key("slackinstall_installs_total", outcome="ok", reason="ok")
    missing_state = key("slackinstall_installs_total", outcome="failed", reason="missing_state")
    assert flow.install().status_code == 302
    assert flow.client.get("/slack/oauth_redirect?code=abc", secure=True).status_code == 400
    after = scrape(client, token)
    assert after[ok] - before.get(ok, 0) == 1
    assert after[missing_state] - before.get(missing_state, 0) == 1
    calls = key("slackinstall_slack_api_calls_total", method="oauth.v2.access", outcome="ok")
    assert after[calls] - before.get(calls, 0) == 1
    assert after[key("slackinstall_workspaces", status="active")] == 1
    assert after[key("slackinstall_workspaces", status="needs_reinstall")] == 0
    names = " ".join(f"{name} {labels}" for name, labels in after)
    workspace = flow.standin.issued[-1]["team"]
    assert workspace["id"] not in names and workspace["name"] not in names


def test_a_slack_error_code_we_do_not_know_counts_under_its_class(
    flow: Flow, token: str, client: Client
) -> None:
    before = scrape(client, token)
    start = flow.start()
    state = dict(p.split("=", 1) for p in start.split("?", 1)[1].split("&"))["state"]
    odd = "made_up_code_" + secrets.token_hex(4)
    flow.client.get(f"/slack/oauth_redirect?error={odd}&state={state}", secure=True)
    after = scrape(client, token)
    assert not any(odd in dict(labels).get("reason", "") for _, labels in after)
    grew = {k for k, v in after.items() if k[0] == "slackinstall_installs_total"}
    grew = {k for k in grew if after[k] > before.get(k, 0)}
    assert len(grew) == 1


@given(st.text(max_size=80))
def test_a_label_is_a_known_word_or_other(value: str) -> None:
    known = ("ok", "app_uninstalled", "T0KNOWN")
    label = metrics.bounded(value, known)
    assert label in (*known, metrics.OTHER)
    assert label == value or label == metrics.OTHER


def test_undecryptable_values_are_counted(saved_workspace: Any, settings: Any, token: str) -> None:
    from installations.encryption.keyring import generate_key_entry
    from installations.models import Workspace

    workspace = saved_workspace()
    before = scrape(Client(), token).get(key("slackinstall_undecryptable_values_total"), 0)
    settings.TOKEN_ENCRYPTION_KEYS = generate_key_entry("other")
    with pytest.raises(Exception, match="cannot decrypt"):
        _ = Workspace.objects.get(pk=workspace.pk).bot_token
    after = scrape(Client(), token)[key("slackinstall_undecryptable_values_total")]
    assert after - before == 1


def test_a_scrape_while_the_database_refuses_is_a_503(client: Client, token: str) -> None:
    from django.core.cache import cache
    from django.db import OperationalError, connection

    def refuse(*args: Any) -> Any:
        raise OperationalError("the database refused the connection")

    cache.clear()  # the counts must be read from the database
    with connection.execute_wrapper(refuse):
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}", secure=True)
    assert response.status_code == 503
    assert b"slackinstall_" not in response.content and b"refused" not in response.content
