"""Fixtures for the standin tests (kept apart so parallel work does not collide)."""
