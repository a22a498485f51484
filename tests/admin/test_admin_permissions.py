"""Who may see the audit and who may act; Slack data cannot be added or edited by hand."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse

from installations.encryption.fields import StoredEnvelope
from installations.models import LifecycleEvent, Workspace

pytestmark = pytest.mark.django_db

LIST = reverse("admin:installations_workspace_changelist")


def snapshot(ws: Workspace) -> dict:
    """The stored row, envelopes as text (a StoredEnvelope value has no equality of its own)."""
    row = Workspace.objects.filter(pk=ws.pk).values().get()
    return {k: v.envelope if isinstance(v, StoredEnvelope) else v for k, v in row.items()}


def urls(ws: Workspace) -> list[str]:
    return [
        LIST,
        reverse("admin:installations_workspace_change", args=[ws.pk]),
        reverse("admin:installations_workspace_history", args=[ws.pk]),
        reverse("admin:installations_lifecycleevent_changelist"),
    ]


def available_actions(client: Client) -> set[str]:
    response = client.get(LIST)
    assert response.status_code == 200
    return {name for name, _ in response.context["action_form"].fields["action"].choices if name}


def test_anonymous_is_sent_to_login(client: Client, audit_workspace: Callable) -> None:
    for url in urls(audit_workspace()):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=")


def test_logged_in_non_staff_is_sent_to_login(
    audit_staff: Callable, audit_workspace: Callable
) -> None:
    member = audit_staff("view_workspace", staff=False)
    for url in urls(audit_workspace()):
        response = member.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=")


def test_staff_without_view_permission_gets_403(
    audit_staff: Callable, audit_workspace: Callable
) -> None:
    ws = audit_workspace()
    bare = audit_staff()
    for url in urls(ws)[:3]:
        assert bare.get(url).status_code == 403


def test_staff_with_view_permission_sees_the_pages(
    viewer: Client, audit_staff: Callable, audit_workspace: Callable
) -> None:
    ws = audit_workspace()
    for url in urls(ws)[:3]:
        assert viewer.get(url).status_code == 200
    events = audit_staff("view_lifecycleevent")
    assert events.get(urls(ws)[3]).status_code == 200


def test_no_adding_and_no_deleting(operator: Client, audit_workspace: Callable) -> None:
    ws = audit_workspace()
    assert operator.get(reverse("admin:installations_workspace_add")).status_code == 403
    delete = reverse("admin:installations_workspace_delete", args=[ws.pk])
    assert operator.post(delete, {"post": "yes"}).status_code == 403
    assert Workspace.objects.filter(pk=ws.pk).exists()
    assert "delete_selected" not in available_actions(operator)


def test_page_is_view_only_even_with_change_permission(
    operator: Client, audit_workspace: Callable
) -> None:
    ws = audit_workspace()
    text = operator.get(reverse("admin:installations_workspace_change", args=[ws.pk])).content
    assert b'name="_save"' not in text
    assert b"<input" not in text.split(b'id="workspace_form"')[1].split(b"</form>")[0].replace(
        b'<input type="hidden" name="csrfmiddlewaretoken"', b""
    )


def test_crafted_post_to_change_url_changes_nothing(
    operator: Client, audit_workspace: Callable
) -> None:
    ws = audit_workspace(team_name="Original")
    before = snapshot(ws)
    response = operator.post(
        reverse("admin:installations_workspace_change", args=[ws.pk]),
        {
            "team_name": "Hacked",
            "bot_token": "xoxb-attacker",
            "bot_scopes": "admin",
            "health": "ok",
            "_save": "Save",
        },
    )
    assert response.status_code == 403
    assert snapshot(ws) == before


def test_view_only_staff_get_only_the_export_action(
    viewer: Client, audit_workspace: Callable
) -> None:
    audit_workspace()
    assert available_actions(viewer) == {"export_csv"}


def test_change_permission_unlocks_verify_and_refresh_but_not_revoke(
    audit_staff: Callable, audit_workspace: Callable
) -> None:
    audit_workspace()
    changer = audit_staff("view_workspace", "change_workspace")
    assert available_actions(changer) == {"export_csv", "verify_now", "refresh_now"}


def test_revoke_needs_its_own_permission(operator: Client, audit_workspace: Callable) -> None:
    audit_workspace()
    assert "revoke" in available_actions(operator)


def test_actions_without_permission_do_nothing(
    viewer: Client, audit_staff: Callable, audit_workspace: Callable
) -> None:
    ws = audit_workspace()
    changer = audit_staff("view_workspace", "change_workspace")
    before = (LifecycleEvent.objects.count(), snapshot(ws))
    for client, action in ((viewer, "verify_now"), (viewer, "revoke"), (changer, "revoke")):
        response = client.post(
            LIST, {"action": action, ACTION_CHECKBOX_NAME: [ws.pk], "confirm": "yes"}
        )
        assert response.status_code in (200, 302)
    after = (LifecycleEvent.objects.count(), snapshot(ws))
    assert after == before
    assert Workspace.objects.get(pk=ws.pk).bot_token is not None


def test_actions_need_a_csrf_token(audit_staff: Callable, audit_workspace: Callable) -> None:
    ws = audit_workspace()
    strict = audit_staff(
        "view_workspace", "change_workspace", "revoke_workspace", enforce_csrf=True
    )
    for action in ("verify_now", "refresh_now", "revoke", "export_csv"):
        response = strict.post(
            LIST, {"action": action, ACTION_CHECKBOX_NAME: [ws.pk], "confirm": "yes"}
        )
        assert response.status_code == 403
    assert Workspace.objects.get(pk=ws.pk).bot_revoked_at is None


def test_lifecycle_events_are_read_only(audit_staff: Callable, audit_workspace: Callable) -> None:
    ws = audit_workspace()
    event = LifecycleEvent.objects.filter(workspace=ws).first()
    assert event is not None
    staff = audit_staff("view_lifecycleevent", "change_lifecycleevent", "delete_lifecycleevent")
    url = reverse("admin:installations_lifecycleevent_change", args=[event.pk])
    assert staff.get(url).status_code == 200
    assert staff.post(url, {"actor": "forged"}).status_code == 403
    assert LifecycleEvent.objects.get(pk=event.pk).actor == "test"
    assert staff.get(reverse("admin:installations_lifecycleevent_add")).status_code == 403
