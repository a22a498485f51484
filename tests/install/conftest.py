"""Fixtures for the install flow's tests: a flow on committed data, and the state's clock."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from django.test import Client

from installations.install import state as oauth_state
from slackstandin import SlackStandIn
from tests.support.flow import Flow, StateClock


@pytest.fixture
def flow_tx(standin: SlackStandIn, transactional_db: None) -> Flow:
    """Like ``flow`` for tests whose threads need committed data (transaction=True)."""
    return Flow(standin=standin, client=Client())


@pytest.fixture
def state_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[StateClock]:
    clock = StateClock()
    monkeypatch.setattr(oauth_state, "timezone", SimpleNamespace(now=clock.now))
    yield clock
