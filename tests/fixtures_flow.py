"""Fixtures for the flow tests (kept apart so parallel work does not collide)."""
