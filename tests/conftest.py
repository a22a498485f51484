"""Fixtures used by tests in more than one folder; each folder's conftest.py holds its own.

Tests are arranged like the code (tests/README.md): a fixture lives in the conftest.py of the
narrowest folder holding every test that uses it, so these are the cross-cutting ones: the local
Slack stand-in, the Add to Slack flow over Django's test client, saved and installed workspaces,
staff clients for the admin, and the browser. Plain helpers (factories, signing, clocks) are
modules in tests/support/, imported normally.
"""

from __future__ import annotations

import asyncio
import json
import os
import socketserver
import threading
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission
from django.db import connections
from django.test import Client
from django.utils import timezone

from installations.bolt import request_url
from installations.bolt.store import DjangoInstallationStore
from installations.conf import slack_config
from installations.models import Workspace
from slackstandin import SlackStandIn
from tests.support import factories
from tests.support.admin import remember_secrets
from tests.support.browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_FLAGS,
    artifact_name,
    browser_unavailable,
    keep_error,
)
from tests.support.flow import Flow
from tests.support.lifecycle import sign
from tests.support.servers import busy_dev_ports, redis_server


def is_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if is_postgres():
        return
    skip = pytest.mark.skip(reason="PostgreSQL only: run with DATABASE_URL=postgres://...")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


BUSY_DEV_PORTS = "SLACKINSTALL_BUSY_DEV_PORTS"


@pytest.fixture(scope="session", autouse=True)
def _busy_dev_ports() -> Iterator[None]:
    """With SLACKINSTALL_BUSY_DEV_PORTS=1 (CI), 127.0.0.1:8000 and :8001 are held for the whole
    run, as a developer's ``make run`` holds them: every test must use ports of its own."""
    if os.environ.get(BUSY_DEV_PORTS) != "1":
        yield
        return
    with busy_dev_ports():
        yield


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A redis-server of the test's own (tests/support/servers.py)."""
    with redis_server(tmp_path) as url:
        yield url


@pytest.fixture(autouse=True)
def _listener_loop_connections_closed() -> Iterator[None]:
    """After each test, the database connection of the AsyncApp listener loop's executor thread
    (bolt/request_url.py) is closed: it outlives the test otherwise, and PostgreSQL cannot drop
    a test database that a session is still connected to."""
    yield
    loop = request_url._loop
    if loop is not None and loop.is_running():
        closing = sync_to_async(connections.close_all)()
        asyncio.run_coroutine_threadsafe(closing, loop).result(timeout=10)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Each test starts with an empty cache (the admin caches its status counts briefly)."""
    from django.core.cache import cache

    cache.clear()


# --- the local Slack stand-in: a real loopback HTTP server that plays slack.com ------------------
# ``standin`` points SLACK_API_URL / SLACK_AUTHORIZE_URL at it (through pytest-django's
# ``settings``, so conf.slack_config() sees the change); ``standin_with_events`` also delivers
# Events API callbacks to the live server's /slack/events, signed with SLACK_SIGNING_SECRET.


def _start_standin(settings: Any, events_url: str | None) -> SlackStandIn:
    standin = SlackStandIn(
        client_id=settings.SLACK_CLIENT_ID,
        client_secret=settings.SLACK_CLIENT_SECRET,
        events_url=events_url,
        signing_secret=settings.SLACK_SIGNING_SECRET,
    ).start()
    settings.SLACK_API_URL = standin.api_url
    settings.SLACK_AUTHORIZE_URL = standin.authorize_url
    return standin


@pytest.fixture
def standin(settings: Any) -> Iterator[SlackStandIn]:
    """A fresh stand-in per test; Django's Slack settings point at it."""
    server = _start_standin(settings, events_url=None)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def standin_with_events(settings: Any, live_server: Any) -> Iterator[SlackStandIn]:
    """Like ``standin``, with events_url = the live server's /slack/events."""
    server = _start_standin(settings, events_url=live_server.url + "/slack/events")
    try:
        yield server
    finally:
        server.stop()


# --- the Add to Slack flow (tests/support/flow.py) ------------------------------------------------


@pytest.fixture
def flow(standin: SlackStandIn, db: None) -> Flow:
    return Flow(standin=standin, client=Client())


# --- workspaces: installed over HTTP, saved without it, and events about them -------------------
# Installs go the way Bolt's run_installation does it, over real HTTP against the stand-in
# (tests/support/factories.py, install_through_standin). Tokens are runtime-generated fakes.


@pytest.fixture
def install(standin: Any) -> Callable[..., tuple[Workspace, dict[str, Any]]]:
    """install(**approve_choices) -> (Workspace, oauth.v2.access body), via the stand-in."""
    return lambda **choices: factories.install_through_standin(standin, **choices)


@pytest.fixture
def saved_workspace(db: Any) -> Callable[..., Workspace]:
    """saved_workspace(**Installation fields) -> Workspace, with fake tokens, no HTTP."""
    return factories.saved_workspace


@pytest.fixture
def post_event(client: Client) -> Callable[..., Any]:
    """post_event(payload | bytes, *, timestamp=None, secret=None, headers=None) -> response."""

    def post(
        payload: dict[str, Any] | bytes,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
        signed: bool = True,
    ) -> Any:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        extra = sign(body, timestamp=timestamp, secret=secret) if signed else {}
        extra.update(headers or {})
        return client.post("/slack/events", data=body, content_type="application/json", **extra)

    return post


@pytest.fixture
def our_store() -> DjangoInstallationStore:
    return DjangoInstallationStore(client_id="1111.2222")


# --- the audit: workspaces with lifecycle facts, staff with permissions ---------------------------
# Workspaces are saved through the real ``saving.save_installation`` with fake tokens generated at
# runtime; every token handed out is remembered in ``audit_secrets`` so tests can scan pages and
# command output for it (and for its last characters).

WORKSPACE_FIELDS = {f.name for f in Workspace._meta.concrete_fields}


@pytest.fixture
def audit_secrets() -> list[str]:
    """Every token and webhook URL the audit fixtures created in this test."""
    return []


@pytest.fixture
def audit_workspace(db: Any, audit_secrets: list[str]) -> Callable[..., Workspace]:
    """Save an install with fake tokens, then set lifecycle facts (``overrides``) on the row."""
    counter = iter(range(1, 10_000))

    def make(
        *,
        team_id: str | None = None,
        team_name: str = "",
        enterprise_id: str | None = None,
        enterprise_name: str | None = None,
        org_wide: bool = False,
        bot_scopes: str | None = None,
        user_id: str = "U0INSTALLER",
        user_scopes: str = "",
        rotation: bool = False,
        webhook: bool = False,
        installed_at: Any = None,
        **overrides: Any,
    ) -> Workspace:
        n = next(counter)
        data = factories.sdk_installation(
            app_id="A0AUDIT",
            enterprise_id=enterprise_id,
            enterprise_name=enterprise_name,
            team_id=None if org_wide else (team_id or f"T0AUDIT{n:04d}"),
            team_name=None if org_wide else (team_name or f"Audit team {n}"),
            bot_token=factories.fake_token("xoxb"),
            bot_id=f"B0AUDIT{n:04d}",
            bot_user_id=f"U0AUDITBOT{n:04d}",
            bot_scopes=",".join(slack_config().scopes) if bot_scopes is None else bot_scopes,
            bot_refresh_token=factories.fake_token("xoxe-1") if rotation else None,
            bot_token_expires_in=43200 if rotation else None,
            user_id=user_id,
            user_token=factories.fake_token("xoxp") if user_scopes else None,
            user_scopes=user_scopes or None,
            incoming_webhook_url=factories.fake_webhook_url() if webhook else None,
            incoming_webhook_channel="#audit" if webhook else None,
            is_enterprise_install=org_wide,
            token_type="bot",
            installed_at=(installed_at or timezone.now()).timestamp(),
        )
        remember_secrets(audit_secrets, data)
        workspace = factories.save(data)
        if overrides:
            unknown = set(overrides) - WORKSPACE_FIELDS
            assert not unknown, unknown
            Workspace.objects.filter(pk=workspace.pk).update(**overrides)
        return Workspace.objects.get(pk=workspace.pk)

    return make


@pytest.fixture
def standin_install(standin: SlackStandIn, audit_secrets: list[str]) -> Callable[..., Workspace]:
    """Approve on the stand-in, exchange the code over HTTP, save: tokens the stand-in knows."""

    def install(**choices: Any) -> Workspace:
        config = slack_config()
        workspace, body = factories.install_through_standin(
            standin,
            scopes=config.scopes,
            user_scopes=config.user_scopes,
            auth_test=False,  # the admin tests count the auth.test calls their actions make
            **choices,
        )
        remember_secrets(audit_secrets, factories.installation_from_oauth(body))
        return workspace

    return install


@pytest.fixture
def audit_staff(db: Any, django_user_model: Any) -> Callable[..., Client]:
    """A logged-in client for a staff user holding exactly ``perms`` (codenames)."""
    counter = iter(range(1, 1000))

    def make(*perms: str, staff: bool = True, enforce_csrf: bool = False) -> Client:
        user = django_user_model.objects.create_user(
            username=f"staff{next(counter)}", password=None, is_staff=staff
        )
        for codename in perms:
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label="installations", codename=codename)
            )
        client = Client(enforce_csrf_checks=enforce_csrf)
        client.force_login(user)
        return client

    return make


@pytest.fixture
def viewer(audit_staff: Callable[..., Client]) -> Client:
    return audit_staff("view_workspace")


# --- the browser: Debian's Chromium driven by Playwright against the live server -----------------
# Playwright never downloads a browser here (tests/support/browser.py). A failing test leaves a
# screenshot in test-artifacts/ (git-ignored) for CI to keep.


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


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


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Generator[Any, None, None]:
    """A page that records console errors (CSP violations among them) and, on failure, leaves
    a screenshot and the page's HTML in test-artifacts/."""
    context = browser.new_context()
    context.set_default_timeout(15_000)
    tab = context.new_page()
    tab.console_errors = []
    tab.on("console", lambda msg: keep_error(tab.console_errors, msg))
    try:
        yield tab
    finally:
        failed = any(
            getattr(getattr(request.node, f"rep_{when}", None), "failed", False)
            for when in ("setup", "call")
        )
        if failed:
            ARTIFACTS.mkdir(exist_ok=True)
            name = artifact_name(request.node.nodeid)
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


@pytest.fixture
def elsewhere() -> Iterator[tuple[str, list[bytes]]]:
    """(base URL, what arrived): a server on another port that records every connection, so a
    test can tell that a client followed no redirect to it."""
    received: list[bytes] = []

    class Record(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(1)
            try:
                received.append(self.request.recv(65536))
            except OSError:
                received.append(b"(connected)")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Record)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
