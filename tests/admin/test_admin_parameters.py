"""Every admin URL and POST parameter of ours, whatever its shape: a 4xx or the admin's own
message, never a 500 (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from installations.models import Workspace

pytestmark = pytest.mark.django_db

LIST = reverse("admin:installations_workspace_changelist")
ACTIONS = ("verify_now", "refresh_now", "revoke", "export_csv")
NOT_IDS = ["nope", "a\x00b", "", "1" * 5000, "12345678-1234-1234-1234-12345678901Z"]


def act(client: Client, action: str, selected: list[str], **extra: str) -> Any:
    data = {"action": action, ACTION_CHECKBOX_NAME: selected, **extra}
    return client.post(LIST, data, secure=True)


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("selected", NOT_IDS)
def test_a_selected_id_that_is_no_id_is_a_400(
    operator: Client, audit_workspace: Callable[..., Workspace], action: str, selected: str
) -> None:
    ws = audit_workspace()
    for confirm in ("", "yes"):
        response = act(operator, action, [str(ws.pk), selected], confirm=confirm)
        assert response.status_code == 400
        assert "Content-Security-Policy" in response and response["X-Frame-Options"] == "DENY"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(selected=st.lists(st.text(max_size=60), min_size=1, max_size=3))
def test_any_selection_is_a_page_never_a_500(operator: Client, selected: list[str]) -> None:
    response = act(operator, "export_csv", selected)
    assert response.status_code in (200, 302, 400)


def test_real_ids_still_act(operator: Client, audit_workspace: Callable[..., Workspace]) -> None:
    ws = audit_workspace()
    response = act(operator, "export_csv", [str(ws.pk)])
    assert response.status_code == 200
    assert ws.team_id in response.content.decode()


@pytest.mark.parametrize("object_id", ["nope", "a%00b", "1" * 500, "%C0"])
@pytest.mark.parametrize("page", ["change", "history"])
def test_a_workspace_page_for_no_id_is_no_500(operator: Client, object_id: str, page: str) -> None:
    response = operator.get(f"{LIST}{object_id}/{page}/", secure=True)
    assert response.status_code in (302, 400, 404)


EVENTS = reverse("admin:installations_lifecycleevent_changelist")
QUERY_NAMES = st.sampled_from(
    ["status", "reason", "install_type", "enterprise", "user_tokens", "rotation", "q", "o", "p",
     "e", "all", "_changelist_filters", "kind", "kind__exact", "team_id", "installed_at__gte"]
)  # fmt: skip
# Any text a URL can carry (a lone surrogate has no UTF-8 form; NUL has its own tests).
VALUES = st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]), max_size=40
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(params=st.dictionaries(QUERY_NAMES, VALUES, max_size=3))
def test_any_list_query_is_a_page_never_a_500(admin_client: Client, params: dict[str, str]) -> None:
    for url in (LIST, EVENTS):
        response = admin_client.get(url, params, secure=True)
        assert response.status_code in (200, 302, 400), (url, params)
