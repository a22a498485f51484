"""How many SQL statements each page of the Add to Slack flow sends: guards, not timings.

The install page writes and reads nothing, the success page none either (its signed link carries
what it shows: install/links.py). A callback spends the state (one INSERT in autocommit; the
purge of expired records runs at most once a minute), looks up the app id (cached once one is
stored), and saves in one transaction whose new Workspace row is one INSERT (no
INSERT-then-UPDATE of every column, no history lookups for a target that has none). A reinstall
also finds its row, its same-flow history and the user's current row to supersede. Counted in
autocommit (``transactional_db``), as a server runs, with every BEGIN, COMMIT and SAVEPOINT
included: each is a round trip.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from installations.install import state
from tests.support.flow import Flow

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def purged_just_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process purged a moment ago: the spends counted here do not purge."""
    clock = state.PurgeClock(state.PURGE_EVERY)
    clock.due(timezone.now())
    monkeypatch.setattr(state, "_purge_clock", clock)


INSTALL_PAGE = 0
NEW_TARGET_CALLBACK = 10  # the spend's INSERT, the app id (none stored yet), the save's 8
REINSTALL_CALLBACK = 9  # the spend's INSERT, the save's 8 (the app id is cached by now)
SUCCESS_PAGE = 0


def statements(queries: list[dict[str, Any]]) -> list[str]:
    return [query["sql"].split(" ", 1)[0].upper() for query in queries]


def callback_and_success(flow: Flow, team_id: str) -> tuple[list[str], list[str]]:
    authorize_url = flow.start()
    redirect = flow.standin.approve(authorize_url, team_id=team_id)
    with CaptureQueriesContext(connection) as callback:
        response = flow.back(redirect)
    assert response.status_code == 302, response.content[:300]
    with CaptureQueriesContext(connection) as success:
        page = flow.client.get(response["Location"], secure=True)
    assert page.status_code == 200
    return statements(callback.captured_queries), statements(success.captured_queries)


def test_the_install_page_sends_no_sql(flow_tx: Flow) -> None:
    with CaptureQueriesContext(connection) as page:
        flow_tx.start()
    assert statements(page.captured_queries) == []
    assert len(page.captured_queries) == INSTALL_PAGE


def test_a_first_install_saves_in_one_transaction_with_one_insert_per_row(flow_tx: Flow) -> None:
    callback, success = callback_and_success(flow_tx, "T0PERF001")
    assert len(callback) <= NEW_TARGET_CALLBACK, callback
    assert callback.count("INSERT") == 4, callback  # spent state, workspace, history, event
    assert "UPDATE" not in callback, callback  # the new row is written whole, once
    assert callback.count("BEGIN") == 1, callback  # the save's: the spend is one statement
    assert len(success) <= SUCCESS_PAGE, success


def test_a_reinstall_stays_within_its_count(flow_tx: Flow) -> None:
    callback_and_success(flow_tx, "T0PERF004")
    callback_and_success(flow_tx, "T0PERF005")
    callback, success = callback_and_success(flow_tx, "T0PERF004")
    assert len(callback) <= REINSTALL_CALLBACK, callback
    assert callback.count("BEGIN") == 1, callback
    assert len(success) <= SUCCESS_PAGE, success
