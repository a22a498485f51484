"""Fixtures for the store tests (kept apart so parallel work does not collide)."""
