"""Issue 11, class 8: a flood of install-page visits cannot break an install in progress, nor
grow the database. Issuing a state writes nothing (installations/oauth_state.py); only spent
states are recorded, one INSERT each, and only until they expire.

The PostgreSQL tests race real threads on real connections: a flood against an install in
progress, and many callbacks carrying one state (exactly one wins).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from installations.bolt.async_store import AsyncDjangoOAuthStateStore
from installations.bolt.store import DjangoOAuthStateStore
from installations.install.cookie import COOKIE_NAME
from installations.install.state import hash_state
from installations.models import Installation, OAuthState, Workspace
from tests.support.flow import Flow, StateClock, authorize_href, query_of

FLOOD = 2000  # anonymous visits, each from a new "browser" (no cookies)


def writes(queries: CaptureQueriesContext) -> list[str]:
    verbs = ("INSERT", "UPDATE", "DELETE", "CREATE", "DROP")
    return [
        q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith(verbs)
    ]


def flood(count: int, *, client_factory: Callable[[], Client] = Client) -> None:
    for _ in range(count):
        assert client_factory().get("/slack/install", secure=True).status_code == 200


def test_a_flood_does_not_break_an_install_in_progress(flow: Flow) -> None:
    authorize = flow.start()  # a person is halfway through installing
    with CaptureQueriesContext(connection) as queries:
        flood(FLOOD)
    assert writes(queries) == []
    assert OAuthState.objects.count() == 0
    assert flow.back(flow.standin.approve(authorize)).status_code == 302
    assert Workspace.objects.count() == 1
    assert OAuthState.objects.count() == 1  # the one spent state


def test_a_flood_from_one_browser_keeps_its_earlier_tabs_working(flow: Flow) -> None:
    first = flow.start()
    for _ in range(500):
        flow.start()
    assert flow.back(flow.standin.approve(first)).status_code == 302


def test_the_table_holds_spent_states_only_until_they_expire(
    flow: Flow, state_clock: StateClock, settings: Any
) -> None:
    for _ in range(3):
        assert flow.install().status_code == 302
    assert OAuthState.objects.count() == 3
    state_clock.advance(settings.SLACK_STATE_TTL_SECONDS + 1)
    assert flow.install().status_code == 302  # spending purges the expired records
    assert OAuthState.objects.count() == 1


def test_slack_purge_states_deletes_expired_spent_states(flow: Flow) -> None:
    assert flow.install().status_code == 302
    OAuthState.objects.create(state_hash="0" * 64, expires_at=timezone.now())
    out = io.StringIO()
    call_command("slack_purge_states", stdout=out)
    assert out.getvalue().splitlines()[0] == "Deleted 1 expired OAuth state(s)."
    assert OAuthState.objects.count() == 1


# --- Bolt's state store: same design -------------------------------------------------------


@pytest.mark.django_db
def test_bolt_store_issue_writes_nothing_and_a_flood_evicts_nobody() -> None:
    store = DjangoOAuthStateStore(expiration_seconds=600)
    early = store.issue()
    with CaptureQueriesContext(connection) as queries:
        for _ in range(FLOOD):
            store.issue()
    assert queries.captured_queries == []
    assert store.consume(early) is True
    assert store.consume(early) is False
    assert list(OAuthState.objects.values_list("state_hash", flat=True)) == [hash_state(early)]
    assert early not in repr(list(OAuthState.objects.values()))


@pytest.mark.django_db
def test_bolt_store_refuses_expired_forged_and_foreign_states(state_clock: StateClock) -> None:
    store = DjangoOAuthStateStore(expiration_seconds=30)
    state = store.issue()
    assert store.issue() != state
    state_clock.advance(31)
    assert store.consume(state) is False
    assert store.consume("") is False
    assert store.consume("never-issued") is False
    page = Client().get("/slack/install", secure=True)
    assert store.consume(query_of(authorize_href(page))["state"]) is False  # not a Bolt state
    assert OAuthState.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_async_bolt_store_is_single_use() -> None:
    store = AsyncDjangoOAuthStateStore(expiration_seconds=600)
    state = async_to_sync(store.async_issue)()
    assert async_to_sync(store.async_consume)(state) is True
    assert async_to_sync(store.async_consume)(state) is False
    assert OAuthState.objects.count() == 1


# --- races on PostgreSQL -------------------------------------------------------------------


def run_threads(count: int, work: Callable[[int], None]) -> None:
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        try:
            barrier.wait()
            work(index)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_pg_flood_threads_against_an_install_completing(flow_tx: Flow) -> None:
    authorize = flow_tx.start()
    redirect = flow_tx.standin.approve(authorize)
    flow_tx.standin.fail_next("oauth.v2.access", delay=0.3)  # the install is busy at Slack
    outcome: list[int] = []

    def work(index: int) -> None:
        if index == 0:
            outcome.append(flow_tx.back(redirect).status_code)
        else:
            flood(300)

    run_threads(5, work)
    assert outcome == [302]
    assert Workspace.objects.count() == 1 and Installation.objects.count() == 1
    assert OAuthState.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_pg_many_callbacks_with_one_state_have_exactly_one_winner(flow_tx: Flow) -> None:
    flow_tx.standin.fail_next("oauth.v2.access", delay=0.3)
    redirect = flow_tx.standin.approve(flow_tx.start())
    cookie = flow_tx.state_cookie() or ""
    answers: list[tuple[int, bytes]] = []

    def work(index: int) -> None:
        client = Client()
        client.cookies[COOKIE_NAME] = cookie
        response = flow_tx.back(redirect, client=client)
        answers.append((response.status_code, response.content))

    run_threads(8, work)
    assert sorted(status for status, _ in answers) == [302] + [400] * 7
    assert all(b"used_state" in body for status, body in answers if status == 400)
    assert len(flow_tx.standin.calls_to("oauth.v2.access")) == 1
    assert Workspace.objects.count() == 1 and Installation.objects.count() == 1
    assert OAuthState.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_pg_bolt_store_concurrent_consumes_have_one_winner() -> None:
    store = DjangoOAuthStateStore()
    state = store.issue()
    results: list[bool] = []
    run_threads(8, lambda _: results.append(store.consume(state)))
    assert sorted(results) == [False] * 7 + [True]
