"""On real PostgreSQL: a revocation racing Bolt's re-save after a token rotation.

Two threads, each on its own connection, start together at a barrier: one runs Bolt's re-save
(the installation read before, carrying freshly rotated tokens), the other applies a revocation
(Slack's events through slack_events.handle_event, Bolt's deletes, a staff revoke). Across the
iterations one side or the other is held back a little, so both orders happen (and some are
left to the race); whichever lands first, the final state never shows a token the revocation
reached, and what the revocation did not touch takes the rotated tokens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from installations.bolt.store import DjangoInstallationStore
from installations.models import Installation, Workspace
from tests.lifecycle.test_resave_after_revocation import (
    INSTALLER,
    REVOCATIONS,
    SAVERS,
    TEAM,
)
from tests.support.factories import fake_token, store_installation

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

HOLD_BACK = 0.05  # seconds: long enough to decide who takes the row lock first
# (save's delay, revocation's delay) per iteration: both orders forced, then left to the race
SCHEDULE = [(0, HOLD_BACK), (HOLD_BACK, 0), (0, 0)] * 2


def install(store: DjangoInstallationStore) -> Any:
    """A fresh rotating install of T0TEAM1 (bot, user token, webhook), an hour old."""
    Workspace.objects.all().delete()
    installation = store_installation(
        installed_at=(timezone.now() - timedelta(hours=1)).timestamp(),
        bot_refresh_token=fake_token("xoxe-1"),
        user_refresh_token=fake_token("xoxe-1"),
        bot_token_expires_at=int(time.time()) + 60,
        user_token_expires_at=int(time.time()) + 60,
        incoming_webhook_url=fake_token("https://hooks.slack.invalid/services/T0TEAM1"),
    )
    store.save(installation)
    return installation


def run_together(first: Callable[[], None], second: Callable[[], None]) -> list[str]:
    """Both callables in their own threads, released at once; the order they finished in."""
    barrier = threading.Barrier(2)
    finished: list[str] = []
    errors: list[BaseException] = []

    def worker(name: str, work: Callable[[], None]) -> None:
        try:
            barrier.wait(timeout=10)
            work()
            finished.append(name)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [
        threading.Thread(target=worker, args=("save", first)),
        threading.Thread(target=worker, args=("revocation", second)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return finished


def after(delay: float, work: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        time.sleep(delay)
        work()

    return run


@pytest.mark.parametrize("saver_name", ["save", "save_bot"])
@pytest.mark.parametrize("revocation_name", REVOCATIONS)
def test_the_revocation_wins_in_either_order(
    our_store: DjangoInstallationStore, saver_name: str, revocation_name: str
) -> None:
    saver, kind = SAVERS[saver_name], REVOCATIONS[revocation_name]
    orders = set()
    for save_delay, revocation_delay in SCHEDULE:
        installed = install(our_store)
        new = saver.rotate(saver.read(our_store))

        finished = run_together(
            after(save_delay, partial(saver.save, our_store, new)),
            after(revocation_delay, lambda: kind.apply(our_store)),
        )
        orders.add(tuple(finished))

        workspace = Workspace.objects.get(team_id="T0TEAM1")
        row = Installation.objects.get(workspace=workspace, user_id=INSTALLER)
        if kind.bot:
            assert workspace.bot_revoked_at is not None
            assert (workspace.bot_token, workspace.bot_refresh_token) == (None, None)
            assert our_store.find_bot(**TEAM) is None
        else:
            assert workspace.bot_token == new.bot_token
        if kind.user:
            assert (row.user_token, row.user_refresh_token) == (None, None)
            assert row.user_token_revoked_at is not None
            assert our_store.find_installation(**TEAM, user_id=INSTALLER) is None
        elif saver.carries_user:
            assert row.user_token == new.user_token
        if kind.webhook:
            assert row.incoming_webhook_url is None
        else:
            assert row.incoming_webhook_url == installed.incoming_webhook_url
        if revocation_name in ("app_uninstalled", "bolt_delete_all"):
            assert workspace.uninstalled_at is not None
            assert our_store.find_installation(**TEAM) is None
    assert orders == {("save", "revocation"), ("revocation", "save")}
