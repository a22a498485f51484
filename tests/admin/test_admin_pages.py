"""The workspace audit pages: what staff see in the list and on a workspace's page."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from installations.encryption.keyring import generate_key_entry
from installations.lifecycle.saving import record_event
from installations.models import Health, LifecycleEvent, Workspace
from tests.support.admin import past

pytestmark = pytest.mark.django_db

LIST = reverse("admin:installations_workspace_changelist")
NEEDS = 'class="ws-status ws-needs-reinstall">Needs reinstall'
ACTIVE = 'class="ws-status ws-active">Active'


def page(client: Client, url: str, **params: Any) -> str:
    response = client.get(url, params)
    assert response.status_code == 200, response.status_code
    return html.unescape(response.content.decode())


def change_url(workspace: Workspace) -> str:
    return reverse("admin:installations_workspace_change", args=[workspace.pk])


def listed_ids(client: Client, **params: Any) -> set[str]:
    response = client.get(LIST, params)
    assert response.status_code == 200
    return {str(ws.pk) for ws in response.context["cl"].result_list}


def test_list_shows_the_audit_columns(
    viewer: Client, audit_workspace: Callable, settings: Any
) -> None:
    settings.SLACK_SCOPES = "commands,chat:write"
    audit_workspace(
        team_id="T0LIST",
        team_name="Listed team",
        enterprise_id="E0GRID",
        enterprise_name="Grid Co",
        user_id="U0WHO",
        bot_scopes="commands,chat:write",
        rotation=True,
    )
    text = page(viewer, LIST)
    for expected in (
        "Listed team (T0LIST)",
        "Grid Co (E0GRID)",
        "Workspace",
        "U0WHO",
        "commands, chat:write",
        ACTIVE,
    ):
        assert expected in text, expected
    for header in ("Install type", "Installer", "Granted bot scopes"):
        assert header in text


def test_org_wide_install_is_listed_as_org_wide(viewer: Client, audit_workspace: Callable) -> None:
    audit_workspace(org_wide=True, enterprise_id="E0ORG", enterprise_name="Org Inc")
    text = page(viewer, LIST)
    assert "Org Inc (E0ORG)" in text
    assert "Org-wide" in text


@pytest.mark.parametrize(
    ("facts", "words"),
    [
        ({"uninstalled_at": past(hours=1)}, "App uninstalled"),
        ({"bot_revoked_at": past(hours=1)}, "Bot token revoked"),
        (
            {"health": Health.DEAD, "last_verified_at": past(minutes=1)},
            "Token dead at last verification",
        ),
        ({"refresh_failed_at": past(hours=1)}, "Token refresh failed"),
        ({"bot_token_expires_at": past(hours=1)}, "Token expired, no refresh token"),
        ({"bot_scopes": "commands"}, "Bot scopes missing: chat:write"),
    ],
)
def test_each_reason_is_rendered_in_list_and_page(
    viewer: Client, audit_workspace: Callable, settings: Any, facts: dict, words: str
) -> None:
    settings.SLACK_SCOPES = "commands,chat:write"
    scopes = facts.pop("bot_scopes", None)
    ws = audit_workspace(bot_scopes=scopes, **facts)
    for text in (page(viewer, LIST), page(viewer, change_url(ws))):
        assert NEEDS in text
        assert words in text


def test_missing_user_scope_is_rendered(
    viewer: Client, audit_workspace: Callable, settings: Any
) -> None:
    settings.SLACK_USER_SCOPES = "search:read,users:read"
    audit_workspace(user_scopes="search:read")
    text = page(viewer, LIST)
    assert "User scopes missing: users:read" in text


def test_missing_scope_appears_when_settings_gain_a_scope(
    viewer: Client, audit_workspace: Callable, settings: Any
) -> None:
    settings.SLACK_SCOPES = "commands,chat:write"
    ws = audit_workspace(bot_scopes="commands,chat:write")
    assert NEEDS not in page(viewer, LIST)
    assert ACTIVE in page(viewer, LIST)
    settings.SLACK_SCOPES = "commands,chat:write,reactions:write"
    text = page(viewer, LIST)
    assert "Bot scopes missing: reactions:write" in text
    assert listed_ids(viewer, status="needs_reinstall") == {str(ws.pk)}


def test_counts_by_status_above_the_list(viewer: Client, audit_workspace: Callable) -> None:
    for _ in range(3):
        audit_workspace()
    audit_workspace(health=Health.DEAD, last_verified_at=past(minutes=1))
    response = viewer.get(LIST)
    counts = response.context["status_counts"]
    assert counts == {"total": 4, "active": 3, "needs_reinstall": 1, "unreadable": 0}
    text = response.content.decode()
    assert 'Active: <a href="?status=active">3</a>' in text
    assert 'Needs reinstall: <a href="?status=needs_reinstall">1</a>' in text


def test_filters(viewer: Client, audit_workspace: Callable) -> None:
    plain = audit_workspace()
    gone = audit_workspace(uninstalled_at=past(days=1))
    org = audit_workspace(org_wide=True, enterprise_id="E0FILTER", enterprise_name="Filter Org")
    users = audit_workspace(user_scopes="search:read")
    rotating = audit_workspace(rotation=True)
    everyone = {str(w.pk) for w in (plain, gone, org, users, rotating)}
    assert listed_ids(viewer) == everyone
    assert listed_ids(viewer, status="needs_reinstall") == {str(gone.pk)}
    assert listed_ids(viewer, status="active") == everyone - {str(gone.pk)}
    assert listed_ids(viewer, reason="uninstalled") == {str(gone.pk)}
    assert listed_ids(viewer, reason="token_dead") == set()
    assert listed_ids(viewer, install_type="org-wide") == {str(org.pk)}
    assert listed_ids(viewer, enterprise="E0FILTER") == {str(org.pk)}
    assert listed_ids(viewer, enterprise="none") == everyone - {str(org.pk)}
    assert listed_ids(viewer, user_tokens="yes") == {str(users.pk)}
    assert listed_ids(viewer, rotation="yes") == {str(rotating.pk)}
    assert str(rotating.pk) not in listed_ids(viewer, rotation="no")
    text = page(viewer, LIST)
    for title in ("By status", "By reinstall reason", "By install type", "By enterprise"):
        assert title in text
    assert "Filter Org (E0FILTER)" in text


@pytest.mark.parametrize("field", ["team_id", "team_name", "installer", "bot_user_id", "ent"])
def test_search_by_names_and_ids(viewer: Client, audit_workspace: Callable, field: str) -> None:
    wanted = audit_workspace(
        team_id="T0FINDME",
        team_name="Findable",
        user_id="U0FINDER",
        enterprise_id="E0FINDENT",
    )
    audit_workspace()
    term = {
        "team_id": "T0FINDME",
        "team_name": "Findable",
        "installer": "U0FINDER",
        "bot_user_id": wanted.bot_user_id,
        "ent": "E0FINDENT",
    }[field]
    assert listed_ids(viewer, q=term) == {str(wanted.pk)}


def test_dates_are_in_the_admins_time_zone(
    viewer: Client, audit_workspace: Callable, settings: Any
) -> None:
    settings.TIME_ZONE = "Asia/Tokyo"
    verified = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    audit_workspace(last_verified_at=verified)
    text = page(viewer, LIST)
    assert "2026-01-05 21:00:00 JST" in text  # seconds and the time zone, in the admin's zone


def test_workspace_page_shows_scopes_side_by_side(
    viewer: Client, audit_workspace: Callable, settings: Any
) -> None:
    settings.SLACK_SCOPES = "commands,chat:write,channels:read"
    settings.SLACK_USER_SCOPES = "search:read"
    ws = audit_workspace(bot_scopes="commands,users:read", user_scopes="search:read")
    response = viewer.get(change_url(ws))
    assert response.status_code == 200
    bot_row = dict(response.context["scope_rows"])["Bot scopes"]
    assert bot_row.missing == ("chat:write", "channels:read")
    assert bot_row.extra == ("users:read",)
    text = html.unescape(response.content.decode())
    assert "<th>Wanted</th><th>Granted</th><th>Missing</th><th>Extra</th>" in text
    assert "commands, chat:write, channels:read" in text
    assert "chat:write, channels:read" in text
    assert "users:read" in text


def test_workspace_page_shows_history_events_tokens_and_link(
    viewer: Client, audit_workspace: Callable
) -> None:
    first = audit_workspace(
        team_id="T0HIST", user_id="U0FIRST", installed_at=past(days=3), webhook=True
    )
    ws = audit_workspace(
        team_id="T0HIST", user_id="U0SECOND", user_scopes="search:read", rotation=True
    )
    assert first.pk == ws.pk
    record_event(ws, LifecycleEvent.Kind.VERIFIED, "staff:alice", "health ok")
    text = page(viewer, change_url(ws))
    # Install history: both flows, who, user token and webhook.
    assert "Install history" in text
    assert "U0FIRST" in text and "U0SECOND" in text
    assert "Yes (#audit)" in text
    assert "Yes (kept)" in text
    # Lifecycle events with actor.
    assert "Reinstalled" in text and "Installed" in text
    assert "staff:alice" in text
    # Tokens: presence, key id, expiry; refresh token present.
    ws = Workspace.objects.get(pk=ws.pk)
    expires = date_format(timezone.localtime(ws.bot_token_expires_at), "DATETIME_FORMAT")
    assert f"Present, key id test1, expires {expires}" in text
    assert text.count("Present, key id test1") >= 2
    # Reinstall link: absolute, on the redirect URI's origin, team preselected.
    assert "https://testserver/slack/install?team=T0HIST" in text


def test_org_wide_reinstall_link_is_the_plain_install_page(
    viewer: Client, audit_workspace: Callable
) -> None:
    """Slack's ``team`` hint takes a workspace id; an org admin picks the org on Slack."""
    ws = audit_workspace(org_wide=True, enterprise_id="E0LINK")
    text = page(viewer, change_url(ws))
    assert 'href="https://testserver/slack/install"' in text and "team=E0LINK" not in text


def test_undecryptable_token_does_not_break_any_page(
    viewer: Client, audit_workspace: Callable, settings: Any
) -> None:
    ws = audit_workspace(rotation=True)
    other = audit_workspace()
    moved = audit_workspace()
    field = Workspace._meta.get_field("bot_token")
    # Sealed under a key this server no longer has (another instance's, or one removed).
    configured = settings.TOKEN_ENCRYPTION_KEYS
    settings.TOKEN_ENCRYPTION_KEYS = f"{generate_key_entry('gone')},{configured}"
    Workspace.objects.filter(pk=ws.pk).update(bot_token=field.seal("xoxb-gone", ws.pk))
    settings.TOKEN_ENCRYPTION_KEYS = configured
    # A ciphertext bound to another row: the page reads its header only and never opens it, so
    # it cannot tell (the Bolt lookups and slack_verify, which do open it, report it).
    Workspace.objects.filter(pk=moved.pk).update(bot_token=field.seal("xoxb-moved", other.pk))
    assert NEEDS not in page(viewer, LIST)  # the list decrypts nothing, so it cannot tell
    text = page(viewer, change_url(ws))
    assert "Present, key id gone" in text and "UNDECRYPTABLE" in text
    assert "xoxb-gone" not in text
    moved_text = page(viewer, change_url(moved))
    assert "Present, key id test1" in moved_text and "xoxb-moved" not in moved_text
    assert "UNDECRYPTABLE" not in moved_text
    assert "UNDECRYPTABLE" not in page(viewer, change_url(other))


def test_list_query_count_does_not_grow_with_rows(
    viewer: Client, audit_workspace: Callable, django_assert_max_num_queries: Any
) -> None:
    for _ in range(5):
        audit_workspace(user_scopes="search:read", rotation=True)
    viewer.get(LIST)  # warm caches (content types, session)
    with CaptureQueriesContext(connection) as five:
        assert viewer.get(LIST).status_code == 200
    for n in range(45):
        audit_workspace(
            user_scopes="search:read",
            health=Health.DEAD if n % 2 else Health.OK,
            last_verified_at=past(minutes=1),
        )
    with django_assert_max_num_queries(len(five)):
        response = viewer.get(LIST)
    assert len(response.context["cl"].result_list) == 50


def test_every_sortable_column_sorts(viewer: Client, audit_workspace: Callable) -> None:
    audit_workspace(health=Health.DEAD, last_verified_at=past(minutes=1))
    audit_workspace(org_wide=True, enterprise_id="E0SORT")
    for column in range(1, 11):
        for order in (str(column), f"-{column}"):
            assert viewer.get(LIST, {"o": order}).status_code == 200, order
    dead_first = viewer.get(LIST, {"o": "-2"}).context["cl"].result_list  # status column
    assert dead_first[0].needs_reinstall is True


def test_filter_facet_counts(viewer: Client, audit_workspace: Callable) -> None:
    audit_workspace(health=Health.DEAD, last_verified_at=past(minutes=1))
    audit_workspace()
    text = page(viewer, LIST, _facets="True")
    assert "Token dead at last verification (1)" in text
    assert "Needs reinstall (1)" in text


def test_long_lists_count_at_most_the_cap_and_totals_stay_exact(admin_client: Any) -> None:
    """The changelist never runs an unbounded COUNT(*) over the health expressions."""
    from installations.admin.site import CappedCountPaginator
    from installations.models import Workspace

    extra = CappedCountPaginator.CAP + 5
    Workspace.objects.bulk_create(
        Workspace(client_id="1111.2222", team_id=f"TCAP{n:05d}", bot_scopes="commands,chat:write")
        for n in range(extra)
    )
    response = admin_client.get("/admin/installations/workspace/")
    assert response.status_code == 200
    assert response.context["cl"].result_count == CappedCountPaginator.CAP + 1
    assert len(response.context["cl"].result_list) == 50
    assert response.context["status_counts"]["total"] == extra


def test_search_by_slack_id_is_exact_and_by_name_is_partial(admin_client: Any) -> None:
    from installations.models import Workspace

    Workspace.objects.create(client_id="1111.2222", team_id="T0SEARCH01", team_name="Acme T0SEARCH")
    Workspace.objects.create(client_id="1111.2222", team_id="T0SEARCH012", team_name="Other")
    Workspace.objects.create(
        client_id="1111.2222", team_id="T0ELSE0001", installer_user_id="U0FIND01"
    )

    def found(term: str) -> set[str]:
        response = admin_client.get("/admin/installations/workspace/", {"q": term})
        assert response.status_code == 200
        return {ws.team_id for ws in response.context["cl"].result_list}

    assert found("T0SEARCH01") == {"T0SEARCH01"}  # exact, not a prefix of T0SEARCH012
    assert found("U0FIND01") == {"T0ELSE0001"}  # installer id
    assert found("acme") == {"T0SEARCH01"}  # names: partial, any case
    assert found("other") == {"T0SEARCH012"}
    assert found("T0SEARC") == set()  # id-shaped terms never match by prefix


def test_reinstall_links_open_a_working_install_page(
    admin_client: Any, client: Any, settings: Any
) -> None:
    """The admin's reinstall link is the install page's one URL builder, on the public origin."""
    from installations.models import Workspace

    settings.SLACK_REDIRECT_URI = "https://public.example/slack/oauth_redirect"
    team = Workspace.objects.create(client_id="1111.2222", team_id="T0LINK0001")
    org = Workspace.objects.create(
        client_id="1111.2222", enterprise_id="E0LINK0001", is_enterprise_install=True
    )
    expected = {
        team: "https://public.example/slack/install?team=T0LINK0001",
        org: "https://public.example/slack/install",
    }
    for workspace, url in expected.items():
        page = admin_client.get(
            reverse("admin:installations_workspace_change", args=[workspace.pk])
        ).content.decode()
        assert f'href="{url}"' in page
        path = url.split("://", 1)[1].split("/", 1)[1]
        assert client.get("/" + path, secure=True).status_code == 200
