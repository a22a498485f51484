"""The paths of the flow's own pages, reversed once per URLconf and script prefix in a process.

``reverse()`` costs about 30 µs, and the install page (its cookie's Path) and the callback (the
success page it redirects to) each need one on every request (issue 15). A path changes only
with the URLconf (the ROOT_URLCONF setting, or a request's own) and the script prefix, so it is
looked up once for each combination and forgotten whenever a setting changes (tests).
"""

from __future__ import annotations

from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import get_script_prefix, get_urlconf, reverse

_paths: dict[tuple[str, Any, str], str] = {}  # (URL name, URLconf, script prefix) -> path


def flow_path(name: str) -> str:
    """``reverse(name)`` (no arguments), from this process's memory after the first time."""
    key = (name, get_urlconf(), get_script_prefix())
    path = _paths.get(key)
    if path is None:
        path = _paths[key] = reverse(name)
    return path


@receiver(setting_changed)
def _forget_paths(**kwargs: Any) -> None:
    _paths.clear()
