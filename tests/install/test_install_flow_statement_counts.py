"""How many SQL statements each page of the Add to Slack flow sends (issue 15).

Guards, not timings: the install page writes and reads nothing, the success page none either
(its signed link carries what it shows: install/links.py). A first install's callback spends
the state with one INSERT (autocommit, no transaction around it), looks up the app id, and
saves in one transaction whose new Workspace row is one INSERT (no INSERT-then-UPDATE of every
column, no history lookups for a target that has none). A reinstall also finds its row, its
same-flow history and the user's current row to supersede. Once an app id is stored for
our client id it is cached (``flow._known_app_id``), so only the site's very first callbacks
look it up. Counted in autocommit (``transactional_db``), as a server runs, with every BEGIN,
COMMIT and SAVEPOINT included: each is a round trip. Spending a state purges expired records at
most once a minute per process (``state.PurgeClock``): not part of a callback's count, so the
tests hold the purge back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from installations.install import state as oauth_state
from tests.support.flow import Flow

pytestmark = pytest.mark.django_db(transaction=True)

# Measured when written. Before issue 15: 18 for a new target's callback and 15 for a
# reinstall's, app id lookup included every time; then 13 / 12 / 12 and 1 for the success page.
INSTALL_PAGE = 0
SITE_FIRST_CALLBACK = 10  # no app id stored yet: looked up
NEW_TARGET_CALLBACK = 9
REINSTALL_CALLBACK = 9
SUCCESS_PAGE = 0


class NeverDue(oauth_state.PurgeClock):
    def due(self, now: datetime) -> bool:
        return False


@pytest.fixture(autouse=True)
def purge_held_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oauth_state, "_purge_clock", NeverDue(oauth_state.PURGE_EVERY))


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
    assert len(callback) <= SITE_FIRST_CALLBACK, callback
    assert callback.count("INSERT") == 4, callback  # spent state, workspace, history, event
    assert "UPDATE" not in callback, callback  # the new row is written whole, once
    assert callback.count("BEGIN") == 1, callback  # the save's one transaction
    assert len(success) <= SUCCESS_PAGE, success
    callback_and_success(flow_tx, "T0PERF002")  # an app id is stored now, and cached
    callback, _ = callback_and_success(flow_tx, "T0PERF003")
    assert len(callback) <= NEW_TARGET_CALLBACK, callback
    assert "UPDATE" not in callback, callback


def test_a_reinstall_stays_within_its_count(flow_tx: Flow) -> None:
    callback_and_success(flow_tx, "T0PERF004")
    callback_and_success(flow_tx, "T0PERF005")
    callback, success = callback_and_success(flow_tx, "T0PERF004")
    assert len(callback) <= REINSTALL_CALLBACK, callback
    assert callback.count("BEGIN") <= 1, callback
    assert len(success) <= SUCCESS_PAGE, success
