"""Fixtures for the admin's tests; the audit rows and staff clients they share with other
folders (``audit_workspace``, ``audit_staff``, ``viewer``, ...) are in tests/conftest.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client


@pytest.fixture
def operator(audit_staff: Callable[..., Client]) -> Client:
    """May see, verify, refresh and revoke."""
    return audit_staff("view_workspace", "change_workspace", "revoke_workspace")
