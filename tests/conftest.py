"""Shared fixtures. Area fixtures live in tests/fixtures_<area>.py, loaded here."""

from __future__ import annotations

import os

import pytest

pytest_plugins = [
    "tests.fixtures_standin",
    "tests.fixtures_flow",
    "tests.fixtures_lifecycle",
    "tests.fixtures_store",
    "tests.fixtures_admin",
    "tests.fixtures_e2e",
]


def is_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if is_postgres():
        return
    skip = pytest.mark.skip(reason="PostgreSQL only: run with DATABASE_URL=postgres://...")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Each test starts with an empty cache (the admin caches its status counts briefly)."""
    from django.core.cache import cache

    cache.clear()
