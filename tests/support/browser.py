"""The browser tests' setup: Debian's Chromium driven by Playwright against the live server.

Playwright never downloads a browser here: it launches /usr/bin/chromium (``CHROMIUM``
overrides). Without Chromium the browser tests skip locally and FAIL when ``CI`` is set, so CI
can never pass with them silently skipped. A failing test leaves a screenshot in
test-artifacts/ (git-ignored) for CI to keep. The fixtures (``browser``, ``page``, ``site``)
are in tests/conftest.py: browser tests sit beside the package they test, in several folders.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling Google on a closed network.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browser_unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests are mandatory in CI and cannot run: {reason}", pytrace=False)
    pytest.skip(f"{reason} (set CI=1 to make this a failure)")


def keep_error(errors: list[str], message: Any) -> None:
    # Browsers ask every site for /favicon.ico on their own; its 404 is not the page's fault.
    if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
        errors.append(f"{message.text} ({message.location.get('url', '')})")


def artifact_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:150]
