"""Fixtures for the admin tests (kept apart so parallel work does not collide)."""
