"""The compiled lookups build their instances without Model.__init__, and nobody can tell.

installations/bolt/compiled_lookup.py puts a row's values straight into each instance's
``__dict__`` (``Model.__init__`` was a third of turning a row into an Installation). What
``__init__`` does that others can observe must still happen: post_init receivers (signals.py
remembers a Workspace's loaded health with one) see the same instances, and a model with pre_init
receivers is built through ``__init__``, which sends that signal with its arguments.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models.signals import post_init, pre_init

from installations.bolt.store import DjangoInstallationStore
from installations.models import Installation, Workspace
from tests.support.factories import store_installation

pytestmark = pytest.mark.django_db

TEAM = {"enterprise_id": None, "team_id": "T0TEAM1"}


@pytest.fixture
def saved(our_store: DjangoInstallationStore) -> None:
    our_store.save(store_installation(0, user_id="U0ALICE"))
    # the self-test's plain lookup (once a process) must not land in what the tests record
    our_store.find_installation(**TEAM)


class Seen:
    """What a signal's receivers see: the sender, and the instance as it stands then."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def __call__(self, sender: type, instance: Any = None, **kwargs: Any) -> None:
        if instance is None:  # pre_init: __init__'s keyword arguments
            self.calls.append((sender.__name__, sorted(kwargs["kwargs"])))
        else:
            state = (instance._state.adding, instance._state.db)
            self.calls.append((sender.__name__, (instance.__dict__.get("team_id"), state)))


def seen_on_both_paths(
    signal: Any, our_store: DjangoInstallationStore, settings: Any
) -> tuple[list[Any], list[Any]]:
    """What ``signal``'s receivers see during a find_installation, compiled then plain."""
    found = []
    for compiled in (True, False):
        settings.SLACK_COMPILED_LOOKUPS = compiled
        seen = Seen()
        for model in (Installation, Workspace):
            signal.connect(seen, sender=model, weak=False, dispatch_uid=f"test-{model.__name__}")
        try:
            assert our_store.find_installation(**TEAM).user_id == "U0ALICE"
        finally:
            for model in (Installation, Workspace):
                signal.disconnect(sender=model, dispatch_uid=f"test-{model.__name__}")
        found.append(seen.calls)
    return found[0], found[1]


@pytest.mark.usefixtures("saved")
def test_post_init_receivers_see_the_same_instances_on_both_paths(
    our_store: DjangoInstallationStore, settings: Any
) -> None:
    compiled, plain = seen_on_both_paths(post_init, our_store, settings)
    assert compiled == plain
    assert [model for model, _ in compiled] == ["Installation", "Workspace"]
    assert compiled[0][1][:2] == ("T0TEAM1", (True, None))  # as __init__ leaves them


@pytest.mark.usefixtures("saved")
def test_a_model_with_pre_init_receivers_is_built_through_init(
    our_store: DjangoInstallationStore, settings: Any
) -> None:
    compiled, plain = seen_on_both_paths(pre_init, our_store, settings)
    assert compiled == plain
    assert [model for model, _ in compiled] == ["Installation", "Workspace"]
