"""Settings defaults and checks, the hooks (signals, installed_by, custom values, next)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from installations import checks, signals
from installations.conf import DEFAULTS, REQUIRED_SETTINGS, slack_config
from installations.install.next_page import is_safe_next
from installations.lifecycle.saving import record_event
from installations.models import Health, Installation, LifecycleEvent, Workspace
from tests.support.flow import Flow


def test_every_optional_setting_has_its_documented_default(settings: Any) -> None:
    for name in ("SLACK_APP_ID", "SLACK_SCOPES", "SLACK_USER_SCOPES", "SLACK_API_URL",
                 "SLACK_AUTHORIZE_URL", "SLACK_STATE_TTL_SECONDS", "SLACK_HTTP_TIMEOUT_SECONDS",
                 "SLACK_TOKEN_ROTATION_MINUTES"):  # fmt: skip
        delattr(settings, name)
    # A live-server thread of an earlier test may still finish a request and cache the config
    # it read then: start from what the settings say now.
    slack_config.cache_clear()
    config = slack_config()
    assert config.app_id == ""
    assert config.scopes == ("commands", "chat:write")
    assert config.user_scopes == ()
    assert config.api_url == "https://slack.com/api/"
    assert config.authorize_url == "https://slack.com/oauth/v2/authorize"
    assert (config.state_ttl_seconds, config.http_timeout_seconds) == (600, 10)
    assert config.token_rotation_minutes == 120
    documented = open("docs/settings.md").read()
    assert all(f"`{name}`" in documented for name in DEFAULTS)


@pytest.mark.parametrize("name", REQUIRED_SETTINGS)
def test_a_missing_required_setting_is_a_check_error_naming_it(settings: Any, name: str) -> None:
    delattr(settings, name)
    settings.CONFIGURATION_PROBLEMS = []
    errors = checks.check_required_settings()
    assert [e.id for e in errors] == ["installations.E010"]
    assert name in errors[0].msg
    assert slack_config() is not None  # reading the settings never raises AttributeError


@pytest.mark.django_db
def test_a_missing_client_id_is_a_page_not_an_attribute_error(settings: Any) -> None:
    del settings.SLACK_CLIENT_ID
    # Deleting a setting sends no setting_changed (pytest-django), so a config an earlier test
    # cached (a live-server thread finishing late) would survive: read what the settings say now.
    slack_config.cache_clear()
    response = Client().get("/slack/install", secure=True)
    assert response.status_code == 503
    assert b"SLACK_CLIENT_ID" in response.content


def test_redirect_uri_must_name_the_mounted_callback(settings: Any) -> None:
    assert checks.check_redirect_uri_path() == []
    settings.SLACK_REDIRECT_URI = "https://testserver/elsewhere/oauth_redirect"
    assert [e.id for e in checks.check_redirect_uri_path()] == ["installations.E013"]


def test_dotted_path_settings_must_import(settings: Any) -> None:
    settings.SLACK_BOLT_APP = "example_app.nowhere.build_app"
    settings.SLACK_INSTALL_CUSTOM_VALUES = "example_app.nowhere.values"
    ids = [e.id for e in checks.check_dotted_paths()]
    assert ids == ["installations.E011", "installations.E012"]


def test_default_auto_field_matches_the_migrations() -> None:
    from django.apps import apps

    assert apps.get_app_config("installations").default_auto_field == (
        "django.db.models.BigAutoField"
    )


@pytest.mark.parametrize(
    "value",
    ["https://evil.example/", "//evil.example/x", "http://testserver/x", "javascript:alert(1)",
     "/x\nSet-Cookie: a=b", "/" + "a" * 400],
)  # fmt: skip
def test_an_unsafe_next_is_refused(flow: Flow, value: str) -> None:
    response = flow.client.get("/slack/install", {"next": value}, secure=True)
    assert response.status_code == 400
    assert b"not on this site" in response.content


def test_safe_next_values() -> None:
    from django.test import RequestFactory

    request = RequestFactory().get("/", secure=True)
    assert is_safe_next(request, "/dashboard/?tab=slack")
    assert is_safe_next(request, "https://testserver/dashboard/")
    assert not is_safe_next(request, "")


def test_install_with_next_user_custom_values_and_signal(
    flow: Flow, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.SLACK_INSTALL_CUSTOM_VALUES = "tests.reusable.test_reusable_hooks.values_for"
    user = get_user_model().objects.create_user("site-user", password="unused-" + "p" * 12)
    flow.client.force_login(user)
    seen: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append(kwargs)

    signals.installation_completed.connect(receiver)
    try:
        page = flow.client.get("/slack/install", {"next": "/after/"}, secure=True)
        from tests.support.flow import authorize_href

        with django_capture_on_commit_callbacks(execute=True):
            answer = flow.back(flow.standin.approve(authorize_href(page)))
    finally:
        signals.installation_completed.disconnect(receiver)
    assert answer.status_code == 302
    assert answer["Location"] == "/after/"
    row = Installation.objects.get()
    assert row.installed_by == user
    assert row.custom_values == {"site_user": "site-user"}
    assert len(seen) == 1
    assert seen[0]["installation"] == row
    assert seen[0]["workspace"] == row.workspace
    assert seen[0]["request"].user == user


def values_for(request: Any) -> dict[str, Any]:
    return {"site_user": request.user.get_username()}


def test_anonymous_install_records_no_user(flow: Flow) -> None:
    assert flow.install().status_code == 302
    assert Installation.objects.get().installed_by is None


def test_deleting_the_user_keeps_the_history(flow: Flow) -> None:
    user = get_user_model().objects.create_user("gone", password="unused-" + "p" * 12)
    flow.client.force_login(user)
    flow.install()
    user.delete()
    assert Installation.objects.get().installed_by is None


@pytest.mark.django_db(transaction=True)
def test_lifecycle_signals_fire_after_commit() -> None:
    from django.db import transaction

    workspace = Workspace.objects.create(client_id="1111.2222", team_id="T0HOOKS1")
    got: list[tuple[str, dict[str, Any]]] = []

    def recorder(name: str) -> Callable[..., None]:
        return lambda sender, **kw: got.append((name, kw))

    receivers = {
        name: recorder(name)
        for name in ("installation_uninstalled", "installation_revoked", "token_refreshed",
                     "health_changed")
    }  # fmt: skip
    for name, receiver in receivers.items():
        getattr(signals, name).connect(receiver)
    try:
        with transaction.atomic():
            record_event(workspace, LifecycleEvent.Kind.UNINSTALLED, "slack")
            assert got == []  # not before the commit
        record_event(workspace, LifecycleEvent.Kind.BOT_REVOKED, "staff:alice")
        record_event(workspace, LifecycleEvent.Kind.REFRESHED, "command:x", "user token refreshed")
        workspace.health = Health.DEAD
        workspace.save()
        workspace.save()  # unchanged: no second health_changed
    finally:
        for name, receiver in receivers.items():
            getattr(signals, name).disconnect(receiver)
    assert [name for name, _ in got] == [
        "installation_uninstalled",
        "installation_revoked",
        "token_refreshed",
        "health_changed",
    ]
    assert got[0][1]["actor"] == "slack" and got[0][1]["kind"] == "uninstalled"
    assert got[1][1]["actor"] == "staff:alice" and got[1][1]["kind"] == "bot_revoked"
    assert got[2][1]["which"] == "user"
    assert (got[3][1]["before"], got[3][1]["after"]) == ("unknown", "dead")


@pytest.mark.django_db
def test_a_failing_receiver_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture, django_capture_on_commit_callbacks: Any
) -> None:
    workspace = Workspace.objects.create(client_id="1111.2222", team_id="T0HOOKS2")

    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("host bug")

    signals.installation_revoked.connect(broken)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            record_event(workspace, LifecycleEvent.Kind.REVOKED, "staff:bob")
    finally:
        signals.installation_revoked.disconnect(broken)
    assert "raised RuntimeError" in caplog.text


def test_slack_init_in_a_host_without_base_dir_writes_beside_the_working_directory(
    settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    del settings.BASE_DIR
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    call_command("slack_init", stdout=out)
    written = (tmp_path / ".env").read_text()
    assert "TOKEN_ENCRYPTION_KEYS=k" in written
    assert str(tmp_path / ".env") in out.getvalue()
