"""Fixtures for the lifecycle tests (kept apart so parallel work does not collide)."""
