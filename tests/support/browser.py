"""Fixtures for the e2e tests: Debian's Chromium driven by Playwright against the live server.

Playwright never downloads a browser here: it launches /usr/bin/chromium (``CHROMIUM``
overrides). Without Chromium the browser tests skip locally and FAIL when ``CI`` is set, so CI
can never pass with them silently skipped. A failing test leaves a screenshot in
test-artifacts/ (git-ignored) for CI to keep.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

ROOT = Path(__file__).resolve().parent.parent
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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def browser_unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests are mandatory in CI and cannot run: {reason}", pytrace=False)
    pytest.skip(f"{reason} (set CI=1 to make this a failure)")


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh headless Chromium (own empty profile) per test."""
    if not os.access(CHROMIUM, os.X_OK):
        browser_unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        browser_unavailable("the playwright package is not installed (make install)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # around it are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield chromium
        finally:
            chromium.close()
            # A connection the test's ORM calls opened while Playwright's event loop ran is left
            # open otherwise, and PostgreSQL then refuses to drop the test database.
            connections.close_all()


def _keep_error(errors: list[str], message: Any) -> None:
    # Browsers ask every site for /favicon.ico on their own; its 404 is not the page's fault.
    if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
        errors.append(f"{message.text} ({message.location.get('url', '')})")


def _artifact_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:150]


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Generator[Any, None, None]:
    """A page that records console errors (CSP violations among them) and, on failure, leaves
    a screenshot and the page's HTML in test-artifacts/."""
    context = browser.new_context()
    context.set_default_timeout(15_000)
    tab = context.new_page()
    tab.console_errors = []
    tab.on("console", lambda msg: _keep_error(tab.console_errors, msg))
    try:
        yield tab
    finally:
        failed = any(
            getattr(getattr(request.node, f"rep_{when}", None), "failed", False)
            for when in ("setup", "call")
        )
        if failed:
            ARTIFACTS.mkdir(exist_ok=True)
            name = _artifact_name(request.node.nodeid)
            try:
                tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
                (ARTIFACTS / f"{name}.html").write_text(tab.content())
            except Exception as exc:  # a dead page must not hide the test's own failure
                print(f"could not save the failure screenshot: {exc}")
        context.close()


@pytest.fixture
def site(live_server: Any, standin: Any, settings: Any) -> Any:
    """The live server with Slack's URLs on the stand-in and the redirect URI on the live server
    (http on loopback is allowed for tests). Returns the live server."""
    settings.SLACK_REDIRECT_URI = live_server.url + "/slack/oauth_redirect"
    return live_server
