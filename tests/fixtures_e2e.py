"""Fixtures for the e2e tests (kept apart so parallel work does not collide)."""
